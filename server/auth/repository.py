"""Named queries for users and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import RefreshToken, User


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
