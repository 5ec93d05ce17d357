"""Helpers for the credential tests: rows per table as the superuser (past row-level
security), API keys, and the calls a signed-out credential must be refused on."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from coderai.v1 import auth_pb2, document_pb2, job_pb2, project_pb2

from tests.factories import Caller, project_message, random_id

# The tables whose rows a user owns: those with a user_id column, and users itself.
_OWNED_TABLES = """
    SELECT table_name FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name = 'user_id' ORDER BY table_name
"""


async def rows_of(admin: asyncpg.Connection, user_id: str) -> dict[str, int]:
    """How many rows of each table belong to the user."""
    tables = [row["table_name"] for row in await admin.fetch(_OWNED_TABLES)]
    counts = {"users": await admin.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id)}
    for table in tables:
        # Table names come from the catalog, not from input.
        counts[table] = await admin.fetchval(
            f"SELECT count(*) FROM {table} WHERE user_id = $1",
            user_id,
        )
    return counts


async def create_api_key(
    caller: Caller, name: str = "nightly export", read_only: bool = False
) -> auth_pb2.CreateApiKeyResponse:
    return await caller.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name=name, read_only=read_only), metadata=caller.metadata
    )


def bearer(credential: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {credential}")]


async def _first_of(stream: AsyncIterable[Any]) -> Any:
    async for message in stream:
        return message
    return None


async def _no_upload() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
    yield document_pb2.UploadDocumentRequest(
        metadata=document_pb2.UploadMetadata(project_id=random_id(), filename="a.txt")
    )


# One call of each kind (unary read, unary write, server stream, client stream) made with a
# credential: (caller's stubs, metadata) -> the call's outcome.
CredentialCall = Callable[[Caller, list[tuple[str, str]]], Awaitable[object]]
CALLS_OF_EVERY_KIND: dict[str, CredentialCall] = {
    "GetMe": lambda c, m: c.auth.GetMe(auth_pb2.GetMeRequest(), metadata=m),
    "ListApiKeys": lambda c, m: c.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=m),
    "ListProjects": lambda c, m: c.projects.ListProjects(
        project_pb2.ListProjectsRequest(), metadata=m
    ),
    "CreateProject": lambda c, m: c.projects.CreateProject(
        project_pb2.CreateProjectRequest(project=project_message()), metadata=m
    ),
    "WatchProject": lambda c, m: _first_of(
        c.jobs.WatchProject(job_pb2.WatchProjectRequest(project_id=random_id()), metadata=m)
    ),
    "UploadDocument": lambda c, m: c.documents.UploadDocument(_no_upload(), metadata=m),
}
