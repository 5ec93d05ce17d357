"""Foreign keys that keep a child row in its parent's tenant.

PostgreSQL checks foreign keys without RLS, so a plain FK would let tenant A attach a row to
tenant B's parent by id. Referencing (parent.id, parent.user_id) instead makes that impossible.
"""

from __future__ import annotations

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
