"""Named queries for users, refresh tokens and API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.auth.models import ApiKey, RefreshToken, User


async def find_login(session: AsyncSession, email: str) -> tuple[uuid.UUID, str] | None:
    """(user id, password hash) for an email, through the RLS-exempt definer function."""
    row = (
        await session.execute(
            text("SELECT user_id, password_hash FROM auth_find_login(:email)"), {"email": email}
        )
    ).first()
    return (row.user_id, row.password_hash) if row else None


async def find_refresh_token_owner(session: AsyncSession, token_hash: bytes) -> uuid.UUID | None:
    owner: uuid.UUID | None = await session.scalar(
        text("SELECT auth_find_refresh_token_owner(:token_hash)"), {"token_hash": token_hash}
    )
    return owner


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_refresh_token_for_update(
    session: AsyncSession, token_hash: bytes
) -> RefreshToken | None:
    statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.scalars(statement)).first()


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def add_refresh_token(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: bytes,
    expires_at: datetime,
) -> RefreshToken:
    token = RefreshToken(
        user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
    )
    session.add(token)
    return token


async def user_exists(connection: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Whether the account exists, through the RLS-exempt definer function."""
    exists: bool | None = await connection.scalar(
        text("SELECT auth_user_exists(:user_id)"), {"user_id": user_id}
    )
    return bool(exists)


@dataclass(frozen=True)
class ApiKeyOwner:
    user_id: uuid.UUID
    read_only: bool
    last_used_at: datetime | None


async def find_api_key(
    connection: AsyncConnection, key_id: uuid.UUID, key_hash: bytes
) -> ApiKeyOwner | None:
    """The owner of the key with this id and digest, through the RLS-exempt definer function."""
    row = (
        await connection.execute(
            text(
                "SELECT user_id, read_only, last_used_at FROM auth_find_api_key(:key_id, :key_hash)"
            ),
            {"key_id": key_id, "key_hash": key_hash},
        )
    ).first()
    return ApiKeyOwner(row.user_id, row.read_only, row.last_used_at) if row else None


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=func.now()))


async def list_api_keys(session: AsyncSession) -> Sequence[ApiKey]:
    """The tenant's keys (RLS), newest first."""
    statement = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return (await session.scalars(statement)).all()


async def delete_api_key(session: AsyncSession, key_id: uuid.UUID) -> bool:
    """Deletes one of the tenant's keys (RLS); False if it has none with this id."""
    deleted = await session.execute(delete(ApiKey).where(ApiKey.id == key_id).returning(ApiKey.id))
    return deleted.first() is not None


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Deletes the account; ON DELETE CASCADE deletes every row it owns."""
    await session.execute(delete(User).where(User.id == user_id))
