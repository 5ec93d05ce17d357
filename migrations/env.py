"""Alembic environment: runs migrations as the owner role on the connection it is given.

`coderai migrate` passes an open connection in `config.attributes["connection"]`; run by hand,
`alembic upgrade head` connects to DATABASE_URL itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from server.core.config import get_settings
from server.core.db import async_url
from server.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine() -> None:
    url = get_settings().database_url
    if url is None:
        raise SystemExit("DATABASE_URL is not set; use `coderai migrate` for the embedded default")
    engine = create_async_engine(async_url(url), hide_parameters=True)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    asyncio.run(run_with_own_engine())
