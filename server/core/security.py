"""Password hashing, access tokens (JWT) and opaque refresh tokens."""

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
    """Who a valid access token speaks for, and until when."""

    user_id: uuid.UUID
    expires_at: datetime


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
    # A fast hash is right here: the token has 384 bits of entropy, unlike a password.
    return hashlib.sha256(token.encode()).digest()
