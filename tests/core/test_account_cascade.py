"""Deleting a user deletes every row it owns: every table with a user_id column reaches users
through foreign keys that cascade on delete and cannot be NULL. A new tenant table without
such a path fails here (the end-to-end check is tests/auth/test_account_deletion.py)."""

from __future__ import annotations

import asyncpg

# Each foreign key that cascades on delete, and whether every column of it is NOT NULL.
_CASCADING_KEYS = """
    SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent,
           bool_and(a.attnotnull) AS not_null
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
    WHERE c.contype = 'f' AND c.confdeltype = 'c'
      AND c.connamespace = 'public'::regnamespace
    GROUP BY c.oid, child, parent
"""
_TENANT_TABLES = """
    SELECT table_name FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name = 'user_id'
"""


async def test_every_table_with_a_user_id_is_deleted_with_its_user(
    owner_url: str, app_url: str
) -> None:
    # app_url: the fixture that migrated the database.
    connection = await asyncpg.connect(owner_url)
    try:
        keys = await connection.fetch(_CASCADING_KEYS)
        tables = {row["table_name"] for row in await connection.fetch(_TENANT_TABLES)}
    finally:
        await connection.close()
    parents: dict[str, set[str]] = {}
    for key in keys:
        if key["not_null"]:
            parents.setdefault(key["child"], set()).add(key["parent"])

    def reaches_users(table: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            parent == "users" or (parent not in seen and reaches_users(parent, seen | {table}))
            for parent in parents.get(table, ())
        )

    assert "api_keys" in tables
    assert sorted(t for t in tables if not reaches_users(t)) == []
