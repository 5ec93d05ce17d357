"""Account deletion and API keys: what a signed-in user does with their credentials.

Both are for a person signed in with a password: an API key may not create or revoke keys,
nor delete the account it acts for (a leaked key must not be able to lock its user out)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from server.auth import repository
from server.auth.models import ApiKey
from server.auth.schemas import ApiKeyInput
from server.auth.service import AuthService
from server.core.db import Database
from server.core.errors import NotFound, PermissionDenied
from server.core.security import Principal, new_api_key, secret_digest


@dataclass(frozen=True)
class CreatedApiKey:
    key: ApiKey
    # The only time the secret exists outside the caller's hands.
    secret: str


class AccountService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self._db = db
        self._auth = auth

    async def delete_account(self, principal: Principal, password: str) -> None:
        """Deletes the user and, through ON DELETE CASCADE, every row it owns; its access
        tokens fail the live-account check from then on."""
        _require_signed_in(principal, "delete the account")
        if not await self._auth.confirm_password(principal.user_id, password):
            raise PermissionDenied("the password is wrong")
        async with self._db.transaction(principal.user_id) as session:
            await repository.delete_user(session, principal.user_id)

    async def create_api_key(self, principal: Principal, data: ApiKeyInput) -> CreatedApiKey:
        _require_signed_in(principal, "create API keys")
        key_id = uuid.uuid4()
        secret = new_api_key(key_id)
        async with self._db.transaction(principal.user_id) as session:
            key = ApiKey(
                id=key_id,
                user_id=principal.user_id,
                name=data.name,
                key_hash=secret_digest(secret),
                read_only=data.read_only,
            )
            session.add(key)
            await session.flush()
        return CreatedApiKey(key, secret)

    async def list_api_keys(self, user_id: uuid.UUID) -> Sequence[ApiKey]:
        async with self._db.transaction(user_id) as session:
            return await repository.list_api_keys(session)

    async def revoke_api_key(self, principal: Principal, key_id: uuid.UUID) -> None:
        _require_signed_in(principal, "revoke API keys")
        async with self._db.transaction(principal.user_id) as session:
            if not await repository.delete_api_key(session, key_id):
                raise NotFound("API key not found")


def _require_signed_in(principal: Principal, action: str) -> None:
    if principal.api_key_id is not None:
        raise PermissionDenied(f"an API key cannot {action}; sign in with a password")
