"""Migration 0008 on a database holding feedback: each verdict takes what it judged from its
extraction, run as the owner role that FORCE ROW LEVEL SECURITY binds, and no verdict is
deleted; downgrading keeps what the earlier schema can hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from server.core.db import async_url
from server.core.migrate import MIGRATIONS_DIR
from tests.conftest import OWNER_ROLE, POSTGRES_ADMIN_URL


@dataclass(frozen=True)
class Seeded:
    """One researcher's project at revision 0007: a value re-done with prompt version 2 since
    one of its verdicts, and a value judged twice."""

    user_id: uuid.UUID
    project_id: uuid.UUID
    document_id: uuid.UUID
    variable_id: uuid.UUID
    job_id: uuid.UUID
    prompts: dict[int, uuid.UUID]
    redone: uuid.UUID  # extraction, now of prompt version 2
    twice: uuid.UUID  # extraction judged twice
    on_current: uuid.UUID  # verdict on the redone extraction's current value
    on_earlier: uuid.UUID  # verdict on its value of prompt version 1
    first: uuid.UUID  # the earlier of the two verdicts on `twice`
    second: uuid.UUID


def _migrate(connection: Connection, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def migrate(owner_url: str, action: str, revision: str) -> None:
    engine = create_async_engine(async_url(owner_url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate, action, revision)
            await connection.commit()
    finally:
        await engine.dispose()


@pytest.fixture
async def databases(owner_url: str) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A new database at revision 0007, migrated by the owner role (owner_url made it), and
    a superuser connection to it, which RLS does not bind."""
    name = f"coderai_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}")
    await admin.close()
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    own = url.set(username=OWNER_ROLE, password=None).render_as_string(hide_password=False)
    await migrate(own, "upgrade", "0007")
    superuser = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        yield own, superuser
    finally:
        await superuser.close()
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def seed(db: asyncpg.Connection) -> Seeded:
    ids = {key: uuid.uuid4() for key in ("user", "project", "document", "variable", "job")}
    prompts = {1: uuid.uuid4(), 2: uuid.uuid4()}
    redone, twice = uuid.uuid4(), uuid.uuid4()
    user = ids["user"]
    await db.execute(
        "INSERT INTO users (id, email, password_hash, display_name) VALUES ($1, $2, 'x', '')",
        user,
        f"{user}@example.org",
    )
    await db.execute(
        """
        INSERT INTO projects (id, user_id, name, description, domain, language,
                              unit_of_observation, entity_identification_pattern, status)
        VALUES ($1, $2, 'Coastal plans', '', 'councils', 'en', 'DOCUMENT', '', 'SAMPLING')
        """,
        ids["project"],
        user,
    )
    await db.execute(
        """
        INSERT INTO variables (id, user_id, project_id, name, display_name, type, instructions,
                               confidence_threshold, if_uncertain, if_multiple_values,
                               max_values, "order")
        VALUES ($1, $2, $3, 'plan', '', 'TEXT', 'What the plan is for.', 0.5,
                'FLAG_FOR_REVIEW', 'FIRST', 1, 0)
        """,
        ids["variable"],
        user,
        ids["project"],
    )
    for version, prompt_id in prompts.items():
        await db.execute(
            """
            INSERT INTO prompts (id, user_id, variable_id, version, is_active, system_prompt,
                                 user_prompt_template, response_schema, provider, model,
                                 temperature, max_tokens, reason, source_fingerprint)
            VALUES ($1, $2, $3, $4, $5, 's', 'u', '{}', 'offline', 'baseline', 0, 100, 'x', '')
            """,
            prompt_id,
            user,
            ids["variable"],
            version,
            version == 2,
        )
    await db.execute(
        """
        INSERT INTO documents (id, user_id, project_id, filename, mime_type, size_bytes,
                               content_hash, status, word_count, page_count, chunk_count)
        VALUES ($1, $2, $3, 'minutes.txt', 'text/plain', 10, 'h', 'READY', 2, 1, 0)
        """,
        ids["document"],
        user,
        ids["project"],
    )
    await db.execute(
        """
        INSERT INTO processing_jobs (id, user_id, project_id, job_type, status, document_ids,
                                     documents_total, documents_processed, documents_failed,
                                     consecutive_failures, progress, input_tokens,
                                     output_tokens, cost_usd, automatic_resumes, retry_failed)
        VALUES ($1, $2, $3, 'SAMPLE', 'COMPLETED', ARRAY[$4::uuid], 1, 1, 0, 0, 100, 0, 0, 0,
                0, false)
        """,
        ids["job"],
        user,
        ids["project"],
        ids["document"],
    )
    for extraction_id, entity, version, value in (
        (redone, ("", ""), 2, '"Dunes."'),
        (twice, ("hamburg", "Hamburg"), 1, '"Sea walls."'),
    ):
        await db.execute(
            """
            INSERT INTO extractions (id, user_id, project_id, document_id, variable_id, job_id,
                                     prompt_id, prompt_version, entity_key, entity_name, value,
                                     source_text, evidence_match, status, input_tokens,
                                     output_tokens, cost_usd)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, 'the quote', 'EXACT',
                    'SUCCESS', 0, 0, 0)
            """,
            extraction_id,
            user,
            ids["project"],
            ids["document"],
            ids["variable"],
            ids["job"],
            prompts[version],
            version,
            *entity,
            value,
        )
    verdicts = {key: uuid.uuid4() for key in ("on_current", "on_earlier", "first", "second")}
    for key, extraction_id, version, age in (
        ("on_current", redone, 2, 3),
        ("on_earlier", redone, 1, 4),
        ("first", twice, 1, 2),
        ("second", twice, 1, 1),
    ):
        await db.execute(
            """
            INSERT INTO extraction_feedback (id, user_id, extraction_id, feedback_type,
                                             corrected_value, user_note, prompt_version,
                                             created_at)
            VALUES ($1, $2, $3, 'INCORRECT', '"Sea walls and dunes."', $4, $5,
                    now() - make_interval(hours => $6))
            """,
            verdicts[key],
            user,
            extraction_id,
            key,
            version,
            age,
        )
    return Seeded(
        user_id=user,
        project_id=ids["project"],
        document_id=ids["document"],
        variable_id=ids["variable"],
        job_id=ids["job"],
        prompts=prompts,
        redone=redone,
        twice=twice,
        **verdicts,
    )


async def verdicts(db: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM extraction_feedback")
    return {row["user_note"]: row for row in rows}


async def test_existing_feedback_takes_what_it_judged_from_its_extraction(
    databases: tuple[str, asyncpg.Connection],
) -> None:
    owner_url, db = databases
    seeded = await seed(db)

    await migrate(owner_url, "upgrade", "0008")

    found = await verdicts(db)
    assert set(found) == {"on_current", "on_earlier", "first", "second"}
    for row in found.values():
        assert (row["project_id"], row["document_id"], row["variable_id"]) == (
            seeded.project_id,
            seeded.document_id,
            seeded.variable_id,
        )
        assert row["corrected_value"] == '"Sea walls and dunes."'
    current = found["on_current"]
    assert (current["extraction_id"], current["job_id"]) == (seeded.redone, seeded.job_id)
    assert (current["prompt_id"], current["prompt_version"]) == (seeded.prompts[2], 2)
    assert (current["judged_value"], current["judged_status"]) == ('"Dunes."', "SUCCESS")
    assert current["judged_source_text"] == "the quote"
    # The extraction holds another prompt version's value: what was judged is not known.
    earlier = found["on_earlier"]
    assert (earlier["extraction_id"], earlier["job_id"]) == (seeded.redone, None)
    assert (earlier["prompt_id"], earlier["prompt_version"]) == (seeded.prompts[1], 1)
    assert (earlier["judged_value"], earlier["judged_status"]) == (None, None)
    # Judged twice: the newer verdict is the current one; the earlier is kept, detached.
    second, first = found["second"], found["first"]
    assert second["extraction_id"] == seeded.twice
    assert first["extraction_id"] is None
    for row in (first, second):
        assert (row["entity_key"], row["entity_name"]) == ("hamburg", "Hamburg")
        assert row["judged_value"] == '"Sea walls."'
    forced = await db.fetch(
        "SELECT relname FROM pg_class WHERE relname = ANY($1::text[]) AND relforcerowsecurity",
        ["extraction_feedback", "extractions", "prompts"],
    )
    assert len(forced) == 3


async def test_downgrading_keeps_the_verdicts_that_still_have_their_extraction(
    databases: tuple[str, asyncpg.Connection],
) -> None:
    owner_url, db = databases
    seeded = await seed(db)
    await migrate(owner_url, "upgrade", "0008")

    await migrate(owner_url, "downgrade", "0007")

    found = await verdicts(db)
    assert set(found) == {"on_current", "on_earlier", "second"}
    assert found["second"]["extraction_id"] == seeded.twice
    assert "judged_value" not in found["second"]
    cascades = await db.fetchval(
        "SELECT confdeltype FROM pg_constraint WHERE conname = $1",
        "fk_extraction_feedback_extraction_id_extractions",
    )
    assert cascades == b"c"
