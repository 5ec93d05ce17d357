"""Finds (or starts) the PostgreSQL and Redis the product runs on.

With DATABASE_URL / REDIS_URL unset, private servers are started in DATA_DIR (the embedded
default) and migrated, so one command runs the product on a machine with nothing installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import text

from server.core.config import Settings
from server.core.db import Database, create_engine
from server.core.embedded import start_embedded_postgres, start_embedded_redis
from server.core.migrate import RoleError, application_url, migrate

log = logging.getLogger("coderai.infrastructure")


# Connections one process keeps to Redis, and how long a command waits for a free one: past
# the pool's size a command waits its turn instead of failing (redis-py's default pool refuses
# past 100, which a burst of streams opening at once can reach).
REDIS_MAX_CONNECTIONS = 100
REDIS_CONNECTION_WAIT_SECONDS = 20.0
# How long a reply may take. redis-py 8 gives up after 5 s by default, which is as long as the
# job feed's blocking XREAD waits for an event (server.jobs.feed): every quiet watch then
# failed with "Timeout reading from ..." and was read again. Longer than any blocking read.
REDIS_SOCKET_TIMEOUT_SECONDS = 30.0


def connect_redis(url: str) -> Redis:
    return Redis(
        connection_pool=BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_MAX_CONNECTIONS,
            timeout=REDIS_CONNECTION_WAIT_SECONDS,
            socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        )
    )


@dataclass(frozen=True)
class Infrastructure:
    app_database_url: str
    redis_url: str


async def prepare(settings: Settings) -> Infrastructure:
    owner_url: str | None
    if settings.embedded_postgres:
        owner_url = start_embedded_postgres(settings.data_dir)
        log.info("embedded PostgreSQL in %s", settings.data_dir / "postgres")
        await migrate(settings, owner_url)
    else:
        owner_url = settings.database_url
    if owner_url is not None:
        app_url = application_url(settings, owner_url)
    elif settings.app_database_url is not None:
        app_url = settings.app_database_url
    else:  # unreachable: embedded_postgres is False only when one of the two URLs is set
        raise RuntimeError("no database URL")
    redis_url = settings.redis_url
    if redis_url is None:
        redis_url = start_embedded_redis(settings.data_dir)
        log.info("embedded Redis in %s", settings.data_dir / "redis")
    return Infrastructure(app_database_url=app_url, redis_url=redis_url)


async def connect_database(settings: Settings, infrastructure: Infrastructure) -> Database:
    """The application's database, after checking that RLS binds the role it connects as."""
    database = Database(
        create_engine(
            infrastructure.app_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
    )
    async with database.engine.connect() as connection:
        role = (
            await connection.execute(
                text(
                    "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            )
        ).one()
    if role.rolsuper or role.rolbypassrls:
        await database.dispose()
        raise RoleError(
            f"refusing to serve as {role.rolname!r}: it is superuser or BYPASSRLS, so "
            "row-level security would not isolate tenants. Connect as the application role."
        )
    return database
