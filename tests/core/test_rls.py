"""Row-level security, checked in PostgreSQL itself: the catalog says every tenant table is
isolated, and the application role, speaking plain SQL, sees and touches only its tenant's rows.

Rows are written here as the application role (never as an owner or superuser), so that the
writes themselves pass through the policies under test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.core.db import Database, create_engine
from tests.conftest import APP_ROLE, OWNER_ROLE, POSTGRES_ADMIN_URL

# Tables that must not carry RLS: Alembic's own bookkeeping, which the app role cannot read.
TABLES_WITHOUT_RLS = {"alembic_version"}
AUTH_LOOKUP_FUNCTIONS = (
    "auth_find_login",
    "auth_find_refresh_token_owner",
    "auth_user_exists",
    "auth_find_api_key",
)


@dataclass(frozen=True)
class Tenant:
    """A user with one project and one variable, written as that user."""

    user_id: uuid.UUID
    email: str
    password_hash: str
    project_id: uuid.UUID
    variable_id: uuid.UUID


# --- helpers -------------------------------------------------------------------------------


@asynccontextmanager
async def as_tenant(
    connection: asyncpg.Connection, user_id: uuid.UUID
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that names its tenant the way server.core.db does (transaction-local)."""
    async with connection.transaction():
        await connection.execute("SELECT set_config('app.user_id', $1, true)", str(user_id))
        yield connection


async def insert_project(
    connection: asyncpg.Connection, *, project_id: uuid.UUID, user_id: uuid.UUID
) -> str:
    status: str = await connection.execute(
        """
        INSERT INTO projects (id, user_id, name, description, domain, language,
                              unit_of_observation, entity_identification_pattern, status)
        VALUES ($1, $2, $3, '', '', 'en', 'DOCUMENT', '', 'DRAFT')
        """,
        project_id,
        user_id,
        f"project {project_id}",
    )
    return status


async def insert_variable(
    connection: asyncpg.Connection,
    *,
    variable_id: uuid.UUID,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
) -> str:
    status: str = await connection.execute(
        """
        INSERT INTO variables (id, user_id, project_id, name, display_name, type, instructions,
                               confidence_threshold, if_uncertain, if_multiple_values,
                               max_values, "order")
        VALUES ($1, $2, $3, $4, '', 'TEXT', '', 0.5, 'FLAG_FOR_REVIEW', 'FIRST', 1, 0)
        """,
        variable_id,
        user_id,
        project_id,
        f"v_{variable_id.hex[:12]}",
    )
    return status


async def create_tenant(connection: asyncpg.Connection) -> Tenant:
    tenant = Tenant(
        user_id=uuid.uuid4(),
        email=f"rls-{uuid.uuid4().hex[:12]}@example.org",
        password_hash=f"$argon2id$placeholder${uuid.uuid4().hex}",
        project_id=uuid.uuid4(),
        variable_id=uuid.uuid4(),
    )
    async with as_tenant(connection, tenant.user_id):
        await connection.execute(
            "INSERT INTO users (id, email, password_hash, display_name) VALUES ($1, $2, $3, '')",
            tenant.user_id,
            tenant.email,
            tenant.password_hash,
        )
        await insert_project(connection, project_id=tenant.project_id, user_id=tenant.user_id)
        await insert_variable(
            connection,
            variable_id=tenant.variable_id,
            user_id=tenant.user_id,
            project_id=tenant.project_id,
        )
    return tenant


async def tenant_tables(connection: asyncpg.Connection) -> list[str]:
    """Every ordinary or partitioned table in schema public with a user_id column, plus users."""
    rows = await connection.fetch(
        """
        SELECT c.relname
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND (c.relname = 'users' OR EXISTS (
                SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped))
        ORDER BY c.relname
        """
    )
    return [row["relname"] for row in rows]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def admin(app_url: str, database_name: str) -> AsyncIterator[asyncpg.Connection]:
    """The superuser on the migrated test database: reads the catalog and bypasses RLS."""
    url = make_url(POSTGRES_ADMIN_URL).set(database=database_name)
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    yield connection
    await connection.close()


@pytest.fixture
async def app(app_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection as the application role, the role the server and workers use."""
    connection = await asyncpg.connect(app_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="module")
async def tenants(app_url: str) -> tuple[Tenant, Tenant]:
    connection = await asyncpg.connect(app_url)
    try:
        return await create_tenant(connection), await create_tenant(connection)
    finally:
        await connection.close()


# --- the catalog ---------------------------------------------------------------------------


async def test_every_tenant_table_forces_rls_with_a_checked_policy(
    admin: asyncpg.Connection,
) -> None:
    tables = await tenant_tables(admin)
    assert {"users", "projects", "variables", "refresh_tokens", "api_keys"} <= set(tables)

    rows = await admin.fetch(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               count(p.policyname) FILTER (
                   WHERE p.qual IS NOT NULL AND p.with_check IS NOT NULL) AS checked_policies
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname
        WHERE n.nspname = 'public' AND c.relname = ANY($1::text[])
        GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
        """,
        tables,
    )
    unprotected = {
        row["relname"]: dict(row)
        for row in rows
        if not (row["relrowsecurity"] and row["relforcerowsecurity"] and row["checked_policies"])
    }
    assert len(rows) == len(tables)
    assert unprotected == {}


async def test_tenant_policies_compare_with_the_transactions_tenant(
    admin: asyncpg.Connection,
) -> None:
    tables = await tenant_tables(admin)
    rows = await admin.fetch(
        """
        SELECT tablename, qual, with_check FROM pg_policies
        WHERE schemaname = 'public' AND policyname = 'tenant_isolation'
        """
    )
    policies = {row["tablename"]: row for row in rows}
    assert set(policies) == set(tables)
    for table, policy in policies.items():
        column = "id" if table == "users" else "user_id"
        expected = f"({column} = app_current_user_id())"
        assert (policy["qual"], policy["with_check"]) == (expected, expected), table


async def test_alembic_version_is_the_only_table_without_rls(admin: asyncpg.Connection) -> None:
    rows = await admin.fetch(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
        """
    )
    assert {row["relname"] for row in rows} == TABLES_WITHOUT_RLS


async def test_application_role_cannot_bypass_rls(admin: asyncpg.Connection) -> None:
    role = await admin.fetchrow(
        "SELECT oid, rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = $1",
        APP_ROLE,
    )
    assert role is not None
    assert not role["rolsuper"]
    assert not role["rolbypassrls"]
    assert not role["rolcreaterole"]
    owned = await admin.fetch(
        "SELECT relname, relkind FROM pg_class WHERE relowner = $1", role["oid"]
    )
    assert owned == []
    # Membership in the owner role would let it SET ROLE to the tables' owner.
    assert not await admin.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", APP_ROLE, OWNER_ROLE)


async def test_auth_lookups_are_definer_functions_closed_to_public(
    admin: asyncpg.Connection,
) -> None:
    rows = await admin.fetch(
        """
        SELECT p.proname, p.prosecdef, p.proconfig,
               pg_get_userbyid(p.proowner) AS owner,
               EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                       WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute,
               has_function_privilege($2, p.oid, 'EXECUTE') AS app_execute
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname = ANY($1::text[])
        """,
        list(AUTH_LOOKUP_FUNCTIONS),
        APP_ROLE,
    )
    assert sorted(row["proname"] for row in rows) == sorted(AUTH_LOOKUP_FUNCTIONS)
    for row in rows:
        assert row["prosecdef"], row["proname"]
        assert row["proconfig"] == ["search_path=pg_catalog, public"], row["proname"]
        assert row["owner"] == OWNER_ROLE
        assert not row["public_execute"], row["proname"]
        assert row["app_execute"], row["proname"]


# --- isolation between tenants, in SQL, as the application role ----------------------------


async def test_a_tenant_sees_only_its_own_rows(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    async with as_tenant(app, a.user_id):
        assert [r["id"] for r in await app.fetch("SELECT id FROM users")] == [a.user_id]
        assert [r["id"] for r in await app.fetch("SELECT id FROM projects")] == [a.project_id]
        assert [r["id"] for r in await app.fetch("SELECT id FROM variables")] == [a.variable_id]
        # Asking for B's rows by key finds nothing, rather than an error that confirms them.
        assert await app.fetch("SELECT * FROM users WHERE id = $1", b.user_id) == []
        assert await app.fetch("SELECT * FROM projects WHERE id = $1", b.project_id) == []
        assert await app.fetch("SELECT * FROM variables WHERE id = $1", b.variable_id) == []


async def test_updating_or_deleting_another_tenants_rows_affects_none(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    async with as_tenant(app, a.user_id):
        assert (
            await app.execute("UPDATE projects SET name = 'stolen' WHERE id = $1", b.project_id)
            == "UPDATE 0"
        )
        assert (
            await app.execute(
                "UPDATE variables SET instructions = 'x' WHERE id = $1", b.variable_id
            )
            == "UPDATE 0"
        )
        assert await app.execute("UPDATE users SET display_name = 'x'") == "UPDATE 1"  # A's own
        assert await app.execute("DELETE FROM variables WHERE id = $1", b.variable_id) == (
            "DELETE 0"
        )
        assert await app.execute("DELETE FROM projects WHERE id = $1", b.project_id) == "DELETE 0"
        assert await app.execute("DELETE FROM users WHERE id = $1", b.user_id) == "DELETE 0"
    async with as_tenant(app, b.user_id):
        project = await app.fetchrow("SELECT name FROM projects WHERE id = $1", b.project_id)
        assert project is not None
        assert project["name"] == f"project {b.project_id}"
        assert await app.fetchval("SELECT count(*) FROM variables") == 1
        assert await app.fetchval("SELECT display_name FROM users") == ""


async def test_a_tenant_cannot_insert_a_row_for_another_tenant(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="row-level security"):
        async with as_tenant(app, a.user_id):
            await insert_project(app, project_id=uuid.uuid4(), user_id=b.user_id)
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="row-level security"):
        async with as_tenant(app, a.user_id):
            await app.execute(
                "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')",
                uuid.uuid4(),
                f"intruder-{uuid.uuid4().hex[:8]}@example.org",
            )


async def test_a_tenant_cannot_hand_its_row_to_another_tenant(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="row-level security"):
        async with as_tenant(app, a.user_id):
            await app.execute(
                "UPDATE projects SET user_id = $1 WHERE id = $2", b.user_id, a.project_id
            )


async def test_a_variable_cannot_point_at_another_tenants_project(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    """The row itself is A's (RLS admits it); the composite key (project_id, user_id) refuses
    the reference to B's project."""
    a, b = tenants
    with pytest.raises(asyncpg.exceptions.ForeignKeyViolationError, match="project_id"):
        async with as_tenant(app, a.user_id):
            await insert_variable(
                app, variable_id=uuid.uuid4(), user_id=a.user_id, project_id=b.project_id
            )


async def test_without_a_tenant_every_tenant_table_reads_empty(
    app: asyncpg.Connection, admin: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    tables = await tenant_tables(admin)
    for table in ("users", "projects", "variables"):
        assert await admin.fetchval(f"SELECT count(*) FROM {table}") >= 2, table
    counts = {table: await app.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
    assert counts == dict.fromkeys(tables, 0)


async def test_the_tenant_does_not_outlive_its_transaction(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    async with as_tenant(app, a.user_id):
        assert await app.fetchval("SELECT count(*) FROM projects") == 1
    # Committed: the same connection now reads '' for the setting, and the policies fail closed.
    assert await app.fetchval("SELECT current_setting('app.user_id', true)") in ("", None)
    assert await app.fetchval("SELECT count(*) FROM projects") == 0
    assert await app.fetch("SELECT * FROM users") == []


async def test_the_application_role_cannot_switch_rls_off(app: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="must be owner"):
        await app.execute("ALTER TABLE projects DISABLE ROW LEVEL SECURITY")
    await app.execute("SET row_security = off")
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="row-level security"):
        await app.fetch("SELECT * FROM projects")
    await app.execute("RESET row_security")
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        await app.fetch("SELECT * FROM alembic_version")


async def test_a_pooled_connection_carries_no_tenant_into_the_next_transaction(
    app_url: str, tenants: tuple[Tenant, Tenant]
) -> None:
    """Regression: one pooled connection serves A, then B, then nobody; each sees only its own."""
    a, b = tenants
    database = Database(create_engine(app_url, pool_size=1, max_overflow=0))
    try:
        seen: list[tuple[int, set[uuid.UUID]]] = []
        for tenant in (a.user_id, b.user_id, None):
            async with database.transaction(tenant) as session:
                backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                projects = set((await session.execute(text("SELECT id FROM projects"))).scalars())
                seen.append((backend, projects))
    finally:
        await database.dispose()
    backends = {backend for backend, _ in seen}
    assert len(backends) == 1, "the three transactions must share one backend"
    assert [projects for _, projects in seen] == [{a.project_id}, {b.project_id}, set()]


# --- the definer functions that answer before the tenant is known --------------------------


async def test_login_lookup_answers_only_for_the_exact_email(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    rows = await app.fetch("SELECT * FROM auth_find_login($1)", a.email.upper())
    assert [dict(row) for row in rows] == [{"user_id": a.user_id, "password_hash": a.password_hash}]
    for near_miss in ("%", "rls-%@example.org", a.email + "x", "", f"{a.email}' OR '1'='1"):
        assert await app.fetch("SELECT * FROM auth_find_login($1)", near_miss) == [], near_miss


async def test_refresh_token_lookup_answers_only_an_owner(app: asyncpg.Connection) -> None:
    assert await app.fetchval("SELECT auth_find_refresh_token_owner($1)", b"\0" * 32) is None


async def test_users_read_empty_to_a_query_without_a_tenant(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    assert await app.fetch("SELECT * FROM users") == []
    assert await app.fetch("SELECT * FROM refresh_tokens") == []
    assert await app.fetch("SELECT * FROM api_keys") == []


async def test_the_live_account_lookup_answers_only_whether_that_user_exists(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    assert await app.fetchval("SELECT auth_user_exists($1)", a.user_id) is True
    assert await app.fetchval("SELECT auth_user_exists($1)", uuid.uuid4()) is False


async def test_an_api_key_lookup_needs_the_keys_digest(
    app: asyncpg.Connection, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    key_id, digest = uuid.uuid4(), b"\1" * 32
    async with as_tenant(app, a.user_id):
        await app.execute(
            "INSERT INTO api_keys (id, user_id, name, key_hash, read_only) "
            "VALUES ($1, $2, 'k', $3, true)",
            key_id,
            a.user_id,
            digest,
        )
    found = await app.fetch("SELECT * FROM auth_find_api_key($1, $2)", key_id, digest)
    assert [dict(row) for row in found] == [
        {"user_id": a.user_id, "read_only": True, "last_used_at": None}
    ]
    assert await app.fetch("SELECT * FROM auth_find_api_key($1, $2)", key_id, b"\2" * 32) == []
