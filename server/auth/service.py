"""Registration, sign-in and token rotation. Sign-in is throttled per account and per client
address (server.auth.throttle) and password hashes are bounded per process
(server.auth.hashing)."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import repository
from server.auth.hashing import PasswordHashing
from server.auth.models import User
from server.auth.schemas import RegisterInput
from server.auth.throttle import SignInThrottle
from server.core.config import Settings
from server.core.db import Database
from server.core.errors import AlreadyExists, NotFound, Unauthenticated
from server.core.security import (
    issue_access_token,
    new_refresh_token,
    refresh_token_digest,
)

_BAD_CREDENTIALS = "wrong email or password"
_BAD_REFRESH = "invalid or expired refresh token"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime


class AuthService:
    def __init__(self, db: Database, settings: Settings, redis: Redis) -> None:
        self._db = db
        self._settings = settings
        self._throttle = SignInThrottle(redis, settings)
        self._passwords = PasswordHashing.from_settings(settings)

    async def register(self, data: RegisterInput, client: str) -> None:
        """Creates the account when the email is new and does nothing when it is taken, with
        the same answer and about the same time (a hash is computed either way), so that
        Register does not tell who has an account. The client signs in with Login next."""
        await self._throttle.password_attempt(client)
        with contextlib.suppress(AlreadyExists):
            await self.create_account(data)

    async def create_account(self, data: RegisterInput) -> User:
        """A new account; AlreadyExists if the email is taken (for operators: `coderai
        add-user`)."""
        user_id = uuid.uuid4()
        password_hash = await self._passwords.hash(data.password)
        try:
            async with self._db.transaction(user_id) as session:
                user = User(
                    id=user_id,
                    email=data.email.lower(),
                    password_hash=password_hash,
                    display_name=data.display_name,
                )
                session.add(user)
                await session.flush()
        except IntegrityError as error:
            raise AlreadyExists("an account with this email already exists") from error
        return user

    async def login(self, email: str, password: str, client: str) -> tuple[User, TokenPair]:
        """Tokens for the right password. Throttled before any hash is computed: by the
        client's address, then by the account (server.auth.throttle)."""
        await self._throttle.password_attempt(client)
        await self._throttle.account_attempt(email)
        async with self._db.transaction(None) as session:
            found = await repository.find_login(session, email.strip())
        password_hash = found[1] if found else None
        if not await self._passwords.verify(password_hash, password) or not found:
            raise Unauthenticated(_BAD_CREDENTIALS)
        user_id = found[0]
        async with self._db.transaction(user_id) as session:
            user = await repository.get_user(session, user_id)
            if user is None:
                raise Unauthenticated(_BAD_CREDENTIALS)
            tokens = self._issue(session, user_id, family_id=uuid.uuid4())
        await self._throttle.account_signed_in(email)
        return user, tokens

    async def confirm_password(self, user_id: uuid.UUID, password: str) -> bool:
        """Whether `password` is the signed-in user's own, asked again before a grave action
        (deleting the account): throttled by account and hashed within the bound, like a
        sign-in, so that a stolen access token cannot be used to guess the password fast."""
        async with self._db.transaction(user_id) as session:
            user = await repository.get_user(session, user_id)
        account = user.email if user else str(user_id)
        await self._throttle.account_attempt(account)
        if not await self._passwords.verify(user.password_hash if user else None, password):
            return False
        await self._throttle.account_signed_in(account)
        return True

    async def refresh(self, refresh_token: str, client: str) -> TokenPair:
        """Rotates a refresh token. A token presented twice revokes its whole family: one of
        the two presenters is a thief, and we cannot tell which."""
        await self._throttle.refresh_attempt(client)
        token_hash = refresh_token_digest(refresh_token)
        user_id = await self._token_owner(token_hash)
        reused = False
        async with self._db.transaction(user_id) as session:
            stored = await repository.get_refresh_token_for_update(session, token_hash)
            if stored is None or stored.revoked_at is not None:
                raise Unauthenticated(_BAD_REFRESH)
            if stored.used_at is not None:
                await repository.revoke_family(session, stored.family_id)
                reused = True
            elif stored.expires_at <= datetime.now(UTC):
                raise Unauthenticated(_BAD_REFRESH)
            else:
                stored.used_at = datetime.now(UTC)
                tokens = self._issue(session, user_id, family_id=stored.family_id)
        if reused:
            # Raised after the commit, so that the revocation is kept.
            raise Unauthenticated(
                "refresh token already used; all sessions of that sign-in were revoked"
            )
        return tokens

    async def logout(self, refresh_token: str) -> None:
        token_hash = refresh_token_digest(refresh_token)
        user_id = await self._token_owner(token_hash)
        async with self._db.transaction(user_id) as session:
            stored = await repository.get_refresh_token_for_update(session, token_hash)
            if stored is not None:
                await repository.revoke_family(session, stored.family_id)

    async def get_me(self, user_id: uuid.UUID) -> User:
        async with self._db.transaction(user_id) as session:
            user = await repository.get_user(session, user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    async def _token_owner(self, token_hash: bytes) -> uuid.UUID:
        async with self._db.transaction(None) as session:
            user_id = await repository.find_refresh_token_owner(session, token_hash)
        if user_id is None:
            raise Unauthenticated(_BAD_REFRESH)
        return user_id

    def _issue(self, session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID) -> TokenPair:
        access = issue_access_token(self._settings, user_id)
        refresh = new_refresh_token()
        refresh_expires_at = datetime.now(UTC) + timedelta(
            seconds=self._settings.refresh_token_ttl_seconds
        )
        repository.add_refresh_token(
            session,
            user_id=user_id,
            family_id=family_id,
            token_hash=refresh_token_digest(refresh),
            expires_at=refresh_expires_at,
        )
        return TokenPair(
            access_token=access.token,
            access_token_expires_at=access.expires_at,
            refresh_token=refresh,
            refresh_token_expires_at=refresh_expires_at,
        )
