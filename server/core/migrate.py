"""Schema migrations and the two database roles.

The owner role (DATABASE_URL) owns the tables and runs migrations. The application role
(APP_DB_ROLE, or the user of APP_DATABASE_URL) is what the server and workers connect as: it
may read and write rows but is not superuser, not owner and not BYPASSRLS, so RLS binds it.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from server.core.config import Settings
from server.core.db import async_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleError(RuntimeError):
    """The application role exists but could bypass row-level security."""


def application_url(settings: Settings, owner_url: str) -> str:
    """The URL the server and workers connect with: APP_DATABASE_URL, or the owner's URL
    with the application role's credentials."""
    if settings.app_database_url:
        return settings.app_database_url
    url = make_url(owner_url).set(
        username=settings.app_db_role, password=settings.app_db_password.get_secret_value()
    )
    return url.render_as_string(hide_password=False)


def application_role(settings: Settings) -> str:
    if settings.app_database_url:
        role = make_url(settings.app_database_url).username or ""
    else:
        role = settings.app_db_role
    if not _ROLE_NAME.match(role):
        raise RoleError(f"invalid application role name {role!r}")
    return role


async def migrate(settings: Settings, owner_url: str) -> None:
    """Bring the schema to the newest revision and (re)grant the application role."""
    engine = create_async_engine(async_url(owner_url), hide_parameters=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade)
            await connection.commit()
        async with engine.begin() as connection:
            await _ensure_application_role(connection, settings)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def _ensure_application_role(connection: AsyncConnection, settings: Settings) -> None:
    role = application_role(settings)
    existing = (
        await connection.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"),
            {"role": role},
        )
    ).first()
    if existing is None:
        # Built with format() so that the password is quoted by PostgreSQL itself.
        create = await connection.scalar(
            text(
                "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS "
                "NOCREATEDB NOCREATEROLE NOINHERIT', CAST(:role AS text), CAST(:pw AS text))"
            ),
            {"role": role, "pw": settings.app_db_password.get_secret_value()},
        )
        await connection.execute(text(create))
    elif existing.rolsuper or existing.rolbypassrls:
        raise RoleError(
            f"the application role {role!r} is superuser or BYPASSRLS; row-level security "
            "would not bind it. Use a plain role."
        )
    database = await connection.scalar(text("SELECT quote_ident(current_database())"))
    for statement in (
        "GRANT CONNECT ON DATABASE {database} TO {role}",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "REVOKE ALL ON alembic_version FROM {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "GRANT EXECUTE ON FUNCTION app_current_user_id(), auth_find_login(text), "
        "auth_find_refresh_token_owner(bytea), auth_user_exists(uuid), "
        "auth_find_api_key(uuid, bytea), delete_expired_exports(), "
        "delete_expired_upload_sessions(), jobs_wanting_workers(integer, integer) TO {role}",
    ):
        await connection.execute(text(statement.format(database=database, role=role)))
