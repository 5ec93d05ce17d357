"""Password hashing, access tokens (JWT), opaque refresh tokens and API keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.core.config import Settings
from server.core.errors import Unauthenticated

# One algorithm, pinned: a token naming any other (including "none") is refused.
JWT_ALGORITHM = "HS256"

_password_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a wrong email costs as much as a wrong
# password and response time does not reveal which accounts exist.
_DUMMY_HASH = _password_hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash or _DUMMY_HASH, password) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


def issue_access_token(settings: Settings, user_id: uuid.UUID) -> AccessToken:
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=settings.access_token_ttl_seconds)
    claims = {
        "sub": str(user_id),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=JWT_ALGORITHM)
    return AccessToken(token=token, expires_at=expires_at)


@dataclass(frozen=True)
class Principal:
    """Who a valid credential speaks for, and until when: an access token, or an API key
    (api_key_id set), which may be limited to methods that change nothing."""

    user_id: uuid.UUID
    expires_at: datetime
    api_key_id: uuid.UUID | None = None
    read_only: bool = False


def verify_access_token(settings: Settings, token: str) -> Principal:
    """The user in a valid access token; Unauthenticated for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        return Principal(
            user_id=uuid.UUID(claims["sub"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthenticated("access token expired") from error
    except (jwt.InvalidTokenError, ValueError, KeyError) as error:
        raise Unauthenticated("invalid access token") from error


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


def refresh_token_digest(token: str) -> bytes:
    return secret_digest(token)


def secret_digest(token: str) -> bytes:
    """What is stored of a refresh token or API key. A fast hash is right here: they have
    256 bits of entropy or more, unlike a password."""
    return hashlib.sha256(token.encode()).digest()


# An API key is `cak_<key id, 32 hex digits>_<secret>`: the id finds the row, the digest of
# the whole key must match it. The prefix tells keys from JWTs (which start with "ey").
API_KEY_PREFIX = "cak_"
_KEY_ID_HEX = 32


def new_api_key(key_id: uuid.UUID) -> str:
    return f"{API_KEY_PREFIX}{key_id.hex}_{secrets.token_urlsafe(32)}"


def api_key_display_prefix(key_id: uuid.UUID) -> str:
    """The start of the key, shown to recognise it: not enough to use it."""
    return f"{API_KEY_PREFIX}{key_id.hex[:8]}"


def is_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


def api_key_id(credential: str) -> uuid.UUID:
    """The key id in an API key; Unauthenticated if it is not well formed."""
    body = credential.removeprefix(API_KEY_PREFIX)
    if len(body) <= _KEY_ID_HEX + 1 or body[_KEY_ID_HEX] != "_":
        raise Unauthenticated("invalid API key")
    try:
        return uuid.UUID(hex=body[:_KEY_ID_HEX])
    except ValueError as error:
        raise Unauthenticated("invalid API key") from error
