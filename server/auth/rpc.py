"""AuthService servicer: converts messages, calls AuthService."""

from __future__ import annotations

from coderai.v1 import auth_pb2, auth_pb2_grpc
from pydantic import ValidationError

from server.auth.models import User
from server.auth.schemas import RegisterInput
from server.auth.service import AuthService, TokenPair
from server.core.errors import invalid_from_pydantic
from server.core.interceptors import RpcContext, current_user_id
from server.core.proto import timestamp

PUBLIC_METHODS = frozenset(
    f"/coderai.v1.AuthService/{name}" for name in ("Register", "Login", "Refresh", "Logout")
)


def user_message(user: User) -> auth_pb2.User:
    return auth_pb2.User(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        create_time=timestamp(user.created_at),
    )


def tokens_message(tokens: TokenPair) -> auth_pb2.TokenPair:
    return auth_pb2.TokenPair(
        access_token=tokens.access_token,
        access_token_expire_time=timestamp(tokens.access_token_expires_at),
        refresh_token=tokens.refresh_token,
        refresh_token_expire_time=timestamp(tokens.refresh_token_expires_at),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, service: AuthService) -> None:
        self._service = service

    async def Register(  # noqa: N802 - gRPC method names are the proto's
        self, request: auth_pb2.RegisterRequest, context: RpcContext
    ) -> auth_pb2.RegisterResponse:
        try:
            data = RegisterInput(
                email=request.email, password=request.password, display_name=request.display_name
            )
        except ValidationError as error:
            raise invalid_from_pydantic(error) from None
        user, tokens = await self._service.register(data)
        return auth_pb2.RegisterResponse(user=user_message(user), tokens=tokens_message(tokens))

    async def Login(  # noqa: N802
        self, request: auth_pb2.LoginRequest, context: RpcContext
    ) -> auth_pb2.LoginResponse:
        user, tokens = await self._service.login(request.email, request.password)
        return auth_pb2.LoginResponse(user=user_message(user), tokens=tokens_message(tokens))

    async def Refresh(  # noqa: N802
        self, request: auth_pb2.RefreshRequest, context: RpcContext
    ) -> auth_pb2.RefreshResponse:
        tokens = await self._service.refresh(request.refresh_token)
        return auth_pb2.RefreshResponse(tokens=tokens_message(tokens))

    async def Logout(  # noqa: N802
        self, request: auth_pb2.LogoutRequest, context: RpcContext
    ) -> auth_pb2.LogoutResponse:
        await self._service.logout(request.refresh_token)
        return auth_pb2.LogoutResponse()

    async def GetMe(  # noqa: N802
        self, request: auth_pb2.GetMeRequest, context: RpcContext
    ) -> auth_pb2.GetMeResponse:
        user = await self._service.get_me(current_user_id())
        return auth_pb2.GetMeResponse(user=user_message(user))
