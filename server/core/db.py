"""The database engine, ORM base and the per-transaction tenant context that RLS reads."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import BindParameter, DateTime, MetaData, Table, bindparam, event, func, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, mapped_column

# The key under which a session carries its tenant; read by the after_begin hook below.
TENANT_INFO_KEY = "tenant_user_id"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampedMixin:
    # Server-side timestamps come back with INSERT/UPDATE ... RETURNING: no reload query.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class TenantSession(Session):
    """A session whose every transaction starts by naming its tenant to PostgreSQL."""


@event.listens_for(TenantSession, "after_begin")
def _set_tenant_for_transaction(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    # Transaction-local (is_local = true): the setting vanishes at COMMIT/ROLLBACK, so a pooled
    # connection never carries one tenant's context into another's transaction.
    user_id = session.info.get(TENANT_INFO_KEY)
    if user_id is not None:
        connection.execute(_SET_TENANT, {"user_id": str(user_id)})


_SET_TENANT = text("SELECT set_config('app.user_id', :user_id, true)")


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a postgresql:// URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it would cost a round trip per transaction. Connections dropped by the
        # server are discarded when used and the call answers UNAVAILABLE.
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "coderai"}},
        # Statement parameters stay out of error messages and logs: they hold password
        # hashes, token digests and researchers' text.
        hide_parameters=True,
    )


class Database:
    """The application's connection to PostgreSQL, as the non-owner application role."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(
            engine, sync_session_class=TenantSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def transaction(self, user_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """One unit of work in one transaction, seen through the tenant's RLS policies.

        With user_id None, no tenant is set and every tenant table reads as empty.
        """
        async with self._sessions(info={TENANT_INFO_KEY: user_id}) as session, session.begin():
            yield session

    @asynccontextmanager
    async def tenant_connection(self, user_id: uuid.UUID) -> AsyncIterator[AsyncConnection]:
        """`transaction` on a Core connection, without an ORM session: for hot paths that run
        prebuilt Core statements only (the usage ledger, twice per model call), where the
        session's own work is about a tenth of a short transaction's CPU."""
        async with self.engine.begin() as connection:
            await connection.execute(_SET_TENANT, {"user_id": str(user_id)})
            yield connection

    @asynccontextmanager
    async def outside_tenant(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit, for one read through a SECURITY DEFINER function
        before the tenant is known (authenticating a call): one round trip, where
        `transaction(None)` would add BEGIN and COMMIT. No tenant is set, so every tenant
        table reads as empty."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def table_of(model: type[Base]) -> Table:
    """The model's table, for Core statements built once on hot paths: a statement object
    that is reused skips the ORM's per-execution work and SQLAlchemy's cache-key building
    (several times cheaper than building an ORM statement each time)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Row locks for changing a row's columns but not its key: FOR NO KEY UPDATE. Unlike FOR UPDATE
# it does not wait for the FOR KEY SHARE locks that PostgreSQL's foreign-key checks take on a
# parent row (a job's row while a worker inserts its log entries): two transactions that each
# insert children and lock the parent could otherwise deadlock.
NO_KEY_UPDATE: dict[str, bool] = {"key_share": True}

_UUID_ARRAY = ARRAY(UUID(as_uuid=True))


def uuid_array(ids: Iterable[uuid.UUID]) -> BindParameter[list[uuid.UUID]]:
    """Ids as one array parameter, for `column == any_(uuid_array(ids))`: IN with a
    parameter per id stops at PostgreSQL's 32,767 parameters (and is planned anew for each
    count)."""
    parameter: BindParameter[list[uuid.UUID]] = bindparam(None, list(ids), type_=_UUID_ARRAY)  # type: ignore[arg-type]
    return parameter


class TenantOwnedMixin(TimestampedMixin):
    """A row that belongs to one user; RLS compares this column with the transaction's tenant."""

    user_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)


def pg_enum(enum_class: type[enum.Enum], name: str) -> SAEnum:
    """A PostgreSQL enum type holding the Python enum's member names."""
    return SAEnum(enum_class, name=name, native_enum=True, create_type=False)


# Transaction-scoped: released at COMMIT or ROLLBACK, so a holder that dies frees it.
_USER_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def lock_for_user(session: AsyncSession, what: str, user_id: uuid.UUID) -> None:
    """Waits until no other transaction holds the user's lock named `what`, then holds it to
    the end of this transaction: a count and the insert it allows become one step for that
    user (READ COMMITTED reads every committed row after the wait), and nobody else waits."""
    await session.execute(_USER_LOCK, {"key": f"coderai:{what}:{user_id}"})
