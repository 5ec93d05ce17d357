"""Resolves the credential of a call to a live principal: an access token whose account still
exists, or an API key that has not been revoked. The authentication interceptor calls it on
every non-public RPC; it costs one indexed query (one round trip) per call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.auth import repository
from server.core.config import Settings
from server.core.db import Database
from server.core.errors import Unauthenticated
from server.core.security import (
    Principal,
    api_key_id,
    is_api_key,
    secret_digest,
    verify_access_token,
)

# A key's last use is written at most this often: not a write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Authenticator:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def authenticate(self, credential: str) -> Principal:
        """The principal a bearer credential speaks for; Unauthenticated for anything else."""
        if is_api_key(credential):
            return await self._api_key(credential)
        principal = verify_access_token(self._settings, credential)
        async with self._db.outside_tenant() as connection:
            exists = await repository.user_exists(connection, principal.user_id)
        if not exists:
            raise Unauthenticated("the account of this access token no longer exists")
        return principal

    async def _api_key(self, credential: str) -> Principal:
        key_id = api_key_id(credential)
        async with self._db.outside_tenant() as connection:
            owner = await repository.find_api_key(connection, key_id, secret_digest(credential))
        if owner is None:
            raise Unauthenticated("invalid or revoked API key")
        now = datetime.now(UTC)
        if owner.last_used_at is None or now - owner.last_used_at >= LAST_USED_RESOLUTION:
            async with self._db.transaction(owner.user_id) as session:
                await repository.touch_api_key(session, key_id)
        return Principal(
            user_id=owner.user_id,
            # A stream opened with a key ends like one opened with an access token, so that a
            # revoked key's streams do not outlive it by more than a token's lifetime.
            expires_at=now + timedelta(seconds=self._settings.access_token_ttl_seconds),
            api_key_id=key_id,
            read_only=owner.read_only,
        )
