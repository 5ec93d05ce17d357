"""Row-level security: every tenant table sees only the transaction's tenant.

The tenant is named per transaction with set_config('app.user_id', <uuid>, true). With no
tenant (or after a transaction that set one, when the setting reads '') every policy compares
against NULL and matches nothing: the policies fail closed.

Login and refresh must find a row before the tenant is known; two SECURITY DEFINER functions
answer exactly those questions (a user id for an email, a user id for a token hash) and
nothing more. They run as the table owner, for whom a SELECT-only policy is added.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from server.core.tenancy import isolation_statements

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose rows belong to the tenant in their user_id column.
TENANT_TABLES = (
    "projects",
    "variables",
    "prompts",
    "documents",
    "document_blobs",
    "document_chunks",
    "processing_jobs",
    "extractions",
    "extraction_feedback",
    "processing_logs",
    "refresh_tokens",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION app_current_user_id() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$
        """
    )
    for table in TENANT_TABLES:
        _isolate(table, "user_id")
    # A user row is its own tenant.
    _isolate("users", "id")

    op.execute(
        """
        CREATE FUNCTION auth_find_login(p_email text)
        RETURNS TABLE (user_id uuid, password_hash text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT id, password_hash FROM public.users WHERE lower(email) = lower(p_email) $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth_find_refresh_token_owner(p_token_hash bytea)
        RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT user_id FROM public.refresh_tokens WHERE token_hash = p_token_hash $$
        """
    )
    for function in ("auth_find_login(text)", "auth_find_refresh_token_owner(bytea)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    # The definer functions run as the owner, whom FORCE ROW LEVEL SECURITY also binds.
    for table in ("users", "refresh_tokens"):
        op.execute(
            f"""
            DO $$ BEGIN
              EXECUTE format(
                'CREATE POLICY owner_auth_lookup ON {table} FOR SELECT TO %I USING (true)',
                current_user);
            END $$
            """
        )


def downgrade() -> None:
    for table in ("users", "refresh_tokens"):
        op.execute(f"DROP POLICY IF EXISTS owner_auth_lookup ON {table}")
    op.execute("DROP FUNCTION IF EXISTS auth_find_refresh_token_owner(bytea)")
    op.execute("DROP FUNCTION IF EXISTS auth_find_login(text)")
    for table in (*TENANT_TABLES, "users"):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS app_current_user_id()")


def _isolate(table: str, tenant_column: str) -> None:
    for statement in isolation_statements(table, tenant_column):
        op.execute(statement)
