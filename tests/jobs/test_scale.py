"""Jobs over more documents than PostgreSQL takes parameters (32,767): every query that
takes a job's documents takes them as one array, against the real database."""

from __future__ import annotations

import uuid

from server.core.db import Database
from server.documents import repository as documents
from server.jobs import results

# More ids than a statement may bind one by one.
MANY = 40_000


async def test_queries_over_a_jobs_documents_take_forty_thousand_ids(database: Database) -> None:
    ids = [uuid.uuid4() for _ in range(MANY)]
    project_id = uuid.uuid4()

    async with database.transaction(uuid.uuid4()) as session:
        done = await results.documents_already_done(
            session, ids, [uuid.uuid4()], 1, entity_prompt_hash=None, retry_failed=False
        )
        ready = await documents.ready_document_ids(session, project_id, among=ids)
        sizes = await documents.segment_sizes(session, ids)
        found = await documents.in_project(session, project_id, ids)

    assert (done, ready, sizes, list(found)) == (set(), [], {}, [])
