"""AuthService servicer: converts messages, calls AuthService."""

from __future__ import annotations

from collections.abc import Sequence

from coderai.v1 import auth_pb2, auth_pb2_grpc
from pydantic import ValidationError

from server.auth.accounts import AccountService
from server.auth.models import ApiKey, User
from server.auth.schemas import ApiKeyInput, RegisterInput
from server.auth.service import AuthService, TokenPair
from server.core.client_address import IPNetwork, client_address
from server.core.errors import invalid_from_pydantic
from server.core.interceptors import RpcContext, current_principal, current_user_id
from server.core.proto import parse_id, timestamp
from server.core.security import api_key_display_prefix
from server.quotas.service import QuotaService, QuotaUse, Usage

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


def api_key_message(key: ApiKey) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=str(key.id),
        name=key.name,
        prefix=api_key_display_prefix(key.id),
        read_only=key.read_only,
        create_time=timestamp(key.created_at),
        last_used_time=timestamp(key.last_used_at),
    )


def usage_message(usage: Usage) -> auth_pb2.Usage:
    def use(quota: QuotaUse) -> auth_pb2.QuotaUse:
        return auth_pb2.QuotaUse(used=quota.used, limit=quota.limit)

    return auth_pb2.Usage(
        projects=use(usage.projects),
        documents=use(usage.documents),
        storage_bytes=use(usage.storage_bytes),
        active_jobs=use(usage.active_jobs),
        open_streams=use(usage.open_streams),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        service: AuthService,
        accounts: AccountService,
        quotas: QuotaService,
        trusted_proxies: Sequence[IPNetwork],
    ) -> None:
        self._service = service
        self._accounts = accounts
        self._quotas = quotas
        self._trusted_proxies = trusted_proxies

    async def Register(  # noqa: N802 - gRPC method names are the proto's
        self, request: auth_pb2.RegisterRequest, context: RpcContext
    ) -> auth_pb2.RegisterResponse:
        try:
            data = RegisterInput(
                email=request.email, password=request.password, display_name=request.display_name
            )
        except ValidationError as error:
            raise invalid_from_pydantic(error) from None
        await self._service.register(data, client_address(context, self._trusted_proxies))
        return auth_pb2.RegisterResponse()

    async def Login(  # noqa: N802
        self, request: auth_pb2.LoginRequest, context: RpcContext
    ) -> auth_pb2.LoginResponse:
        user, tokens = await self._service.login(
            request.email, request.password, client_address(context, self._trusted_proxies)
        )
        return auth_pb2.LoginResponse(user=user_message(user), tokens=tokens_message(tokens))

    async def Refresh(  # noqa: N802
        self, request: auth_pb2.RefreshRequest, context: RpcContext
    ) -> auth_pb2.RefreshResponse:
        tokens = await self._service.refresh(
            request.refresh_token, client_address(context, self._trusted_proxies)
        )
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

    async def GetUsage(  # noqa: N802
        self, request: auth_pb2.GetUsageRequest, context: RpcContext
    ) -> auth_pb2.GetUsageResponse:
        usage = await self._quotas.usage(current_user_id())
        return auth_pb2.GetUsageResponse(usage=usage_message(usage))

    async def DeleteAccount(  # noqa: N802
        self, request: auth_pb2.DeleteAccountRequest, context: RpcContext
    ) -> auth_pb2.DeleteAccountResponse:
        await self._accounts.delete_account(current_principal(), request.password)
        return auth_pb2.DeleteAccountResponse()

    async def CreateApiKey(  # noqa: N802
        self, request: auth_pb2.CreateApiKeyRequest, context: RpcContext
    ) -> auth_pb2.CreateApiKeyResponse:
        try:
            data = ApiKeyInput(name=request.name, read_only=request.read_only)
        except ValidationError as error:
            raise invalid_from_pydantic(error) from None
        created = await self._accounts.create_api_key(current_principal(), data)
        return auth_pb2.CreateApiKeyResponse(
            api_key=api_key_message(created.key), secret=created.secret
        )

    async def ListApiKeys(  # noqa: N802
        self, request: auth_pb2.ListApiKeysRequest, context: RpcContext
    ) -> auth_pb2.ListApiKeysResponse:
        keys = await self._accounts.list_api_keys(current_user_id())
        return auth_pb2.ListApiKeysResponse(api_keys=[api_key_message(key) for key in keys])

    async def RevokeApiKey(  # noqa: N802
        self, request: auth_pb2.RevokeApiKeyRequest, context: RpcContext
    ) -> auth_pb2.RevokeApiKeyResponse:
        key_id = parse_id(request.api_key_id, "api_key_id")
        await self._accounts.revoke_api_key(current_principal(), key_id)
        return auth_pb2.RevokeApiKeyResponse()
