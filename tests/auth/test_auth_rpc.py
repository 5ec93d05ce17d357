"""Accounts and tokens over the real gRPC server: registration, sign-in, refresh-token rotation
with reuse detection, logout, and the refusal of every access token that is not exactly right.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import jwt
import pytest
from coderai.v1 import auth_pb2, auth_pb2_grpc, project_pb2, project_pb2_grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from pydantic import ValidationError

from server.core.config import DEFAULT_JWT_SECRET, Settings

if TYPE_CHECKING:
    from coderai.v1.auth_pb2_grpc import AuthServiceAsyncStub
    from coderai.v1.project_pb2_grpc import ProjectServiceAsyncStub

PASSWORD = "correct horse battery staple"
OTHER_SECRET = "an-entirely-different-secret-of-48-characters!!"
Metadata = list[tuple[str, str]] | None


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    password: str
    tokens: auth_pb2.TokenPair


# --- factories and helpers -----------------------------------------------------------------


async def register(
    auth: AuthServiceAsyncStub, email: str | None = None, password: str = PASSWORD
) -> Account:
    """A new account, signed in with Login (Register signs nobody in)."""
    email = email or f"researcher-{uuid.uuid4().hex[:12]}@example.org"
    await auth.Register(auth_pb2.RegisterRequest(email=email, password=password))
    response = await auth.Login(auth_pb2.LoginRequest(email=email, password=password))
    return Account(response.user.id, response.user.email, password, response.tokens)


def bearer(access_token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {access_token}")]


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call must end with."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def field_violations(call: grpc.aio.UnaryUnaryCall[Any, Any]) -> dict[str, str]:
    """The google.rpc.BadRequest field violations of a failed call, by field.

    grpc_status' grpc.aio variant awaits the call's code, details and trailing metadata, finds
    `grpc-status-details-bin`, and checks that the Status proto agrees with the call's status.
    """
    with pytest.raises(grpc.aio.AioRpcError):
        await call
    # `rpc_status.aio` exists at runtime; grpc-stubs does not declare it.
    status: status_pb2.Status | None = await rpc_status.aio.from_call(call)  # type: ignore[attr-defined]
    assert status is not None, "no google.rpc.Status in the trailing metadata"
    assert status.code == code_pb2.INVALID_ARGUMENT
    bad_request = error_details_pb2.BadRequest()
    assert [detail.Is(bad_request.DESCRIPTOR) for detail in status.details] == [True]
    status.details[0].Unpack(bad_request)
    return {violation.field: violation.description for violation in bad_request.field_violations}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def claims(settings: Settings, user_id: str, **overrides: Any) -> dict[str, Any]:
    """The claims the server issues (see server.core.security), with some replaced or dropped
    (an override of None drops the claim)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def _numeric_dates(values: dict[str, Any]) -> dict[str, Any]:
    """Claims as JSON has them: datetimes as seconds since the epoch."""
    return {
        name: int(value.timestamp()) if isinstance(value, datetime) else value
        for name, value in values.items()
    }


def signed(settings: Settings, user_id: str, *, secret: str | None = None, **overrides: Any) -> str:
    key = secret or settings.jwt_secret.get_secret_value()
    return jwt.encode(claims(settings, user_id, **overrides), key, algorithm="HS256")


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def auth(channel: grpc.aio.Channel) -> AuthServiceAsyncStub:
    return auth_pb2_grpc.AuthServiceStub(channel)


@pytest.fixture
def projects(channel: grpc.aio.Channel) -> ProjectServiceAsyncStub:
    return project_pb2_grpc.ProjectServiceStub(channel)


@pytest.fixture
async def account(auth: AuthServiceAsyncStub, unique_email: str) -> Account:
    return await register(auth, unique_email)


@pytest.fixture(scope="module")
async def holder(channel: grpc.aio.Channel) -> Account:
    """One account whose valid token the forged and malformed tokens are made from."""
    return await register(auth_pb2_grpc.AuthServiceStub(channel))


# --- registration and sign-in --------------------------------------------------------------


async def test_a_registered_user_logs_in_and_sees_their_account(
    auth: AuthServiceAsyncStub, unique_email: str
) -> None:
    mixed_case = unique_email.replace("researcher", "Researcher").replace("example", "EXAMPLE")
    registered = await register(auth, mixed_case)
    assert registered.email == unique_email  # stored lower-cased

    login = await auth.Login(auth_pb2.LoginRequest(email=mixed_case, password=PASSWORD))
    assert login.user.id == registered.user_id
    assert login.tokens.access_token
    assert login.tokens.refresh_token
    assert login.tokens.refresh_token != registered.tokens.refresh_token

    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(login.tokens.access_token))
    assert (me.user.id, me.user.email) == (registered.user_id, unique_email)


async def test_wrong_password_and_unknown_email_are_refused_alike(
    auth: AuthServiceAsyncStub, account: Account
) -> None:
    wrong_password = await rpc_error(
        auth.Login(auth_pb2.LoginRequest(email=account.email, password="not the password"))
    )
    unknown_email = await rpc_error(
        auth.Login(auth_pb2.LoginRequest(email=f"nobody-{account.email}", password=PASSWORD))
    )
    assert wrong_password.code() == unknown_email.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong_password.details() == unknown_email.details()


async def test_an_email_registers_once_whatever_its_case(
    auth: AuthServiceAsyncStub, account: Account
) -> None:
    """Registering a taken email answers like a new one and leaves the account as it was."""
    other_password = "a different password entirely"
    again = await auth.Register(
        auth_pb2.RegisterRequest(
            email=account.email.upper(), password=other_password, display_name="Impostor"
        )
    )
    assert again == auth_pb2.RegisterResponse()

    refused = await rpc_error(
        auth.Login(auth_pb2.LoginRequest(email=account.email, password=other_password))
    )
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    login = await auth.Login(auth_pb2.LoginRequest(email=account.email, password=PASSWORD))
    assert (login.user.id, login.user.display_name) == (account.user_id, "")


@pytest.mark.parametrize(
    ("email", "password", "bad_fields"),
    [
        pytest.param(None, "too short", {"password"}, id="short-password"),
        pytest.param("not-an-email", PASSWORD, {"email"}, id="bad-email"),
        pytest.param("", PASSWORD, {"email"}, id="empty-email"),
        pytest.param("still@not@an.email", "short", {"email", "password"}, id="both"),
    ],
)
async def test_invalid_registration_names_the_bad_fields(
    auth: AuthServiceAsyncStub,
    unique_email: str,
    email: str | None,
    password: str,
    bad_fields: set[str],
) -> None:
    request = auth_pb2.RegisterRequest(
        email=unique_email if email is None else email, password=password
    )
    violations = await field_violations(auth.Register(request))
    assert set(violations) == bad_fields
    assert all(violations.values()), "every violation says what is wrong"


# --- refresh tokens ------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(
    auth: AuthServiceAsyncStub, account: Account
) -> None:
    old = account.tokens.refresh_token
    rotated = (await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=old))).tokens

    assert rotated.refresh_token != old
    me = await auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(rotated.access_token))
    assert me.user.id == account.user_id
    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=old)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_reused_refresh_token_revokes_its_family(
    auth: AuthServiceAsyncStub, account: Account
) -> None:
    """A stolen token replayed after its owner refreshed: both the replay and the owner's
    newest token are refused; a separate sign-in of the same user is untouched."""
    other_sign_in = await auth.Login(
        auth_pb2.LoginRequest(email=account.email, password=account.password)
    )
    first = account.tokens.refresh_token
    second = (await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first))).tokens

    replay = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first)))
    assert replay.code() == grpc.StatusCode.UNAUTHENTICATED
    newest = await rpc_error(
        auth.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token))
    )
    assert newest.code() == grpc.StatusCode.UNAUTHENTICATED

    untouched = await auth.Refresh(
        auth_pb2.RefreshRequest(refresh_token=other_sign_in.tokens.refresh_token)
    )
    assert untouched.tokens.refresh_token


@pytest.mark.parametrize("token", ["never-issued", "x" * 64])
async def test_a_refresh_token_never_issued_is_refused(
    auth: AuthServiceAsyncStub, token: str
) -> None:
    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_refresh_without_a_token_is_invalid_argument(auth: AuthServiceAsyncStub) -> None:
    """refresh_token is REQUIRED: an empty one is a malformed request, not a wrong token."""
    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_logout_revokes_the_family(auth: AuthServiceAsyncStub, account: Account) -> None:
    other_sign_in = await auth.Login(
        auth_pb2.LoginRequest(email=account.email, password=account.password)
    )
    current = (
        await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=account.tokens.refresh_token))
    ).tokens.refresh_token

    await auth.Logout(auth_pb2.LogoutRequest(refresh_token=current))

    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=current)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    untouched = await auth.Refresh(
        auth_pb2.RefreshRequest(refresh_token=other_sign_in.tokens.refresh_token)
    )
    assert untouched.tokens.refresh_token


# --- access tokens -------------------------------------------------------------------------

# Each builds the call's metadata from the settings and a valid account; None sends none.
BadCredentials = Callable[[Settings, Account], Metadata]


def _alg_none(settings: Settings, holder: Account) -> Metadata:
    header = _b64_json({"alg": "none", "typ": "JWT"})
    payload = _b64_json(_numeric_dates(claims(settings, holder.user_id)))
    return bearer(f"{header}.{payload}.")


def _hs512_with_the_right_secret(settings: Settings, holder: Account) -> Metadata:
    """Signed with the server's own secret, but with an algorithm it does not accept.

    Signed by hand: PyJWT warns that the secret is short for SHA-512, which is beside the point.
    """
    header = _b64_json({"alg": "HS512", "typ": "JWT"})
    payload = _b64_json(_numeric_dates(claims(settings, holder.user_id)))
    key = settings.jwt_secret.get_secret_value().encode()
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha512).digest()
    return bearer(f"{header}.{payload}.{_b64(signature)}")


def _tampered_signature(settings: Settings, holder: Account) -> Metadata:
    header, payload, signature = holder.tokens.access_token.split(".")
    # A middle character: the last one of a base64url signature partly encodes padding bits.
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return bearer(f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}")


def _tampered_payload(settings: Settings, holder: Account) -> Metadata:
    """The holder's signature on a payload claiming to be somebody else."""
    header, payload, signature = holder.tokens.access_token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["sub"] = str(uuid.uuid4())
    return bearer(f"{header}.{_b64_json(decoded)}.{signature}")


BAD_CREDENTIALS: dict[str, BadCredentials] = {
    "alg-none": _alg_none,
    "expired": lambda s, h: bearer(
        signed(
            s,
            h.user_id,
            iat=datetime.now(UTC) - timedelta(hours=1),
            nbf=datetime.now(UTC) - timedelta(hours=1),
            exp=datetime.now(UTC) - timedelta(minutes=1),
        )
    ),
    "tampered-signature": _tampered_signature,
    "tampered-payload": _tampered_payload,
    "other-secret": lambda s, h: bearer(signed(s, h.user_id, secret=OTHER_SECRET)),
    "hs512-with-the-right-secret": _hs512_with_the_right_secret,
    "wrong-audience": lambda s, h: bearer(signed(s, h.user_id, aud="some-other-api")),
    "wrong-issuer": lambda s, h: bearer(signed(s, h.user_id, iss="someone-else")),
    "no-expiry": lambda s, h: bearer(signed(s, h.user_id, exp=None)),
    "subject-not-a-uuid": lambda s, h: bearer(signed(s, "admin")),
    "not-a-jwt": lambda s, h: bearer("not-a-jwt"),
    "empty-bearer": lambda s, h: [("authorization", "Bearer ")],
    "basic-scheme": lambda s, h: [("authorization", f"Basic {h.tokens.access_token}")],
    "no-scheme": lambda s, h: [("authorization", h.tokens.access_token)],
    "no-metadata": lambda s, h: None,
}

# Every authenticated RPC goes through the same interceptor; one per service is called here.
AuthenticatedCall = Callable[[grpc.aio.Channel, Metadata], Awaitable[Any]]
AUTHENTICATED_CALLS: dict[str, AuthenticatedCall] = {
    "AuthService.GetMe": lambda channel, metadata: auth_pb2_grpc.AuthServiceStub(channel).GetMe(
        auth_pb2.GetMeRequest(), metadata=metadata
    ),
    "ProjectService.ListProjects": lambda channel, metadata: project_pb2_grpc.ProjectServiceStub(
        channel
    ).ListProjects(project_pb2.ListProjectsRequest(), metadata=metadata),
}


@pytest.mark.parametrize("method", AUTHENTICATED_CALLS)
async def test_a_valid_access_token_is_accepted(
    channel: grpc.aio.Channel, holder: Account, method: str
) -> None:
    await AUTHENTICATED_CALLS[method](channel, bearer(holder.tokens.access_token))


@pytest.mark.parametrize("method", AUTHENTICATED_CALLS)
@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
async def test_a_bad_access_token_is_refused(
    channel: grpc.aio.Channel, settings: Settings, holder: Account, credentials: str, method: str
) -> None:
    metadata = BAD_CREDENTIALS[credentials](settings, holder)
    error = await rpc_error(AUTHENTICATED_CALLS[method](channel, metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", [None, DEFAULT_JWT_SECRET, "short-but-not-default"], ids=["unset", "default", "short"]
)
def test_production_refuses_a_weak_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    overrides: dict[str, Any] = {} if secret is None else {"jwt_secret": secret}
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(_env_file=None, environment="production", **overrides)


def test_production_accepts_a_strong_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    strong = "4" * 16 + uuid.uuid4().hex
    settings = Settings(_env_file=None, environment="production", jwt_secret=strong)
    assert settings.jwt_secret.get_secret_value() == strong


def test_the_server_will_not_start_in_production_with_the_default_secret(tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if key not in {"JWT_SECRET", "ENVIRONMENT"}
    }
    environment |= {
        "ENVIRONMENT": "production",
        # Should the check ever be lost, fail fast instead of starting embedded servers.
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "GRPC_PORT": "0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=tmp_path,  # no .env here
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "JWT_SECRET" in result.stderr
