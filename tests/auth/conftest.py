"""The superuser's view of the session's database, for checking what a user owns."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, with_database


@pytest.fixture
async def admin(database_name: str) -> AsyncIterator[asyncpg.Connection]:
    """The superuser on the session's database: sees every tenant's rows, past RLS."""
    connection = await asyncpg.connect(with_database(POSTGRES_ADMIN_URL, database_name))
    yield connection
    await connection.close()
