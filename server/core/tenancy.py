"""Tenant isolation in the schema: foreign keys that keep a child row in its parent's tenant, and
the row-level security every tenant table is put under.

PostgreSQL checks foreign keys without RLS, so a plain FK would let tenant A attach a row to
tenant B's parent by id. Referencing (parent.id, parent.user_id) instead makes that impossible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import ForeignKeyConstraint


def same_tenant_fk(
    column: str, parent_table: str, *, ondelete: str = "CASCADE"
) -> ForeignKeyConstraint:
    """FK (column, user_id) -> parent_table(id, user_id)."""
    set_null = ondelete == "SET NULL"
    return ForeignKeyConstraint(
        [column, "user_id"],
        [f"{parent_table}.id", f"{parent_table}.user_id"],
        ondelete=f"SET NULL ({column})" if set_null else ondelete,
    )


def isolation_statements(table: str, tenant_column: str = "user_id") -> list[str]:
    """The SQL that puts a table under row-level security: ENABLE and FORCE (the owner is bound
    too), and one policy letting a transaction see and write only its tenant's rows. The one
    definition the migrations use for every tenant table."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING ({tenant_column} = app_current_user_id()) "
        f"WITH CHECK ({tenant_column} = app_current_user_id())",
    ]


@contextmanager
def across_tenants(execute: Callable[[str], object], *tables: str) -> Iterator[None]:
    """For a migration's backfill that reads or writes every tenant's rows: FORCEd row-level
    security binds the tables' owner, who runs the migrations, too; it is lifted on `tables`
    for the block and restored after it, inside the migration's transaction (a failure rolls
    the lifting back with everything else)."""
    for table in tables:
        execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    yield
    for table in tables:
        execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
