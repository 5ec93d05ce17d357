"""Deleting one's account over the real server: with the current password it deletes the user
and every row the user owns in every table, revokes every access token, refresh token and API
key at once, and leaves another researcher's data exactly as it was. And whoever deletes a
user, a token of a user who no longer exists is UNAUTHENTICATED on every RPC."""

from __future__ import annotations

import subprocess
import uuid

import asyncpg
import grpc
import pytest
from coderai.v1 import auth_pb2, common_pb2, document_pb2, export_pb2, job_pb2, quality_pb2

from server.core.db import Database
from server.llm.ledger import LLMCall
from server.quality.models import Refinement, RefinementMethod, RefinementStatus, ValueSnapshot
from tests.auth.accounts import CALLS_OF_EVERY_KIND, bearer, create_api_key, rows_of
from tests.factories import PASSWORD, Caller, rpc_error, signed_in

# Tables the populated account must have rows in, so that "no rows after" means something.
# document_outcomes is written only for documents found to have no entities.
MAY_BE_EMPTY = {"document_outcomes"}
SPEECH = b"We will cut emissions by half by 2030.\n\n" * 700


async def populated(channel: grpc.aio.Channel, database: Database) -> Caller:
    """A researcher with a row in every table a researcher's work fills: a project, its
    schema and prompts, a parsed document, a finished sample job with its extractions, logs
    and feedback, an export, an unfinished resumable upload, an API key, a coding sample and
    a code, a refinement with a kept value, and a ledger row outside any project."""
    caller = await signed_in(channel, f"deleted-{uuid.uuid4().hex[:10]}@example.org")
    project = await caller.create_project()
    await caller.create_variable(project.id)
    # Over 5,000 words, so that it is stored in chunks too.
    [result] = await caller.upload(project.id, "speech.txt", SPEECH)
    parsed = await caller.parsed(result.document.id)
    assert parsed.document.status == common_pb2.DOCUMENT_STATUS_READY, parsed.document
    job = await caller.create_job(project.id)
    await caller.job_ended(job.job.id)
    [extraction, *_] = await caller.extractions(project.id)
    await caller.jobs.CreateFeedback(
        job_pb2.CreateFeedbackRequest(
            extraction_id=extraction.id, feedback_type=common_pb2.FEEDBACK_TYPE_CORRECT
        ),
        metadata=caller.metadata,
    )
    await caller.export(project.id, export_pb2.EXPORT_FORMAT_CSV_WIDE)
    begun = await caller.documents.BeginUpload(
        document_pb2.BeginUploadRequest(
            metadata=document_pb2.UploadMetadata(project_id=project.id, filename="later.txt")
        ),
        metadata=caller.metadata,
    )
    await caller.documents.AppendUpload(
        document_pb2.AppendUploadRequest(upload_id=begun.upload_id, offset=0, data=b"part"),
        metadata=caller.metadata,
    )
    await create_api_key(caller)
    sample = await caller.quality.CreateCodingSample(
        quality_pb2.CreateCodingSampleRequest(project_id=project.id, name="blind", size=1),
        metadata=caller.metadata,
    )
    code = quality_pb2.CodeInput(variable_id=extraction.variable_id, document_id=result.document.id)
    await caller.quality.SubmitCodes(
        quality_pb2.SubmitCodesRequest(
            project_id=project.id, coder="Ada", sample_id=sample.sample.id, codes=[code]
        ),
        metadata=caller.metadata,
    )
    user_id = uuid.UUID(caller.user_id)
    ids = {
        "project_id": uuid.UUID(project.id),
        "variable_id": uuid.UUID(extraction.variable_id),
    }
    async with database.transaction(user_id) as session:
        session.add(
            LLMCall(
                user_id=user_id, purpose="test", provider="offline", model="baseline", attempt=1
            )
        )
        # A refinement's rows, built directly: a real one needs five judged units.
        session.add(
            ValueSnapshot(
                user_id=user_id,
                document_id=uuid.UUID(result.document.id),
                prompt_version=1,
                value="x",
                **ids,
            )
        )
        session.add(
            Refinement(
                user_id=user_id,
                method=RefinementMethod.RULES,
                status=RefinementStatus.READY,
                reference="Ada",
                base_version=1,
                **ids,
            )
        )
    return caller


async def test_deleting_the_account_deletes_every_row_it_owns_and_revokes_every_credential(
    channel: grpc.aio.Channel,
    database: Database,
    admin: asyncpg.Connection,
    worker: subprocess.Popen[bytes],
) -> None:
    researcher = await populated(channel, database)
    bystander = await populated(channel, database)
    key = await create_api_key(researcher, name="ci", read_only=False)
    login = await researcher.auth.Login(
        auth_pb2.LoginRequest(email=researcher.email, password=PASSWORD)
    )
    before = await rows_of(admin, researcher.user_id)
    bystanders_before = await rows_of(admin, bystander.user_id)
    assert [table for table, n in before.items() if n == 0 and table not in MAY_BE_EMPTY] == []

    await researcher.auth.DeleteAccount(
        auth_pb2.DeleteAccountRequest(password=PASSWORD), metadata=researcher.metadata
    )

    after = await rows_of(admin, researcher.user_id)
    assert {table: n for table, n in after.items() if n} == {}
    assert await rows_of(admin, bystander.user_id) == bystanders_before
    for credential in (researcher.metadata, bearer(key.secret)):
        for name, call in CALLS_OF_EVERY_KIND.items():
            error = await rpc_error(call(researcher, credential))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, name
    refused = await rpc_error(
        researcher.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=login.tokens.refresh_token))
    )
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    signed_out = await rpc_error(
        researcher.auth.Login(auth_pb2.LoginRequest(email=researcher.email, password=PASSWORD))
    )
    assert signed_out.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await bystander.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bystander.metadata)).user


async def test_a_wrong_password_or_an_api_key_cannot_delete_the_account(
    channel: grpc.aio.Channel, admin: asyncpg.Connection
) -> None:
    researcher = await signed_in(channel, f"kept-{uuid.uuid4().hex[:10]}@example.org")
    await researcher.create_project()
    key = await create_api_key(researcher, name="full access", read_only=False)

    wrong = await rpc_error(
        researcher.auth.DeleteAccount(
            auth_pb2.DeleteAccountRequest(password="not the password"),
            metadata=researcher.metadata,
        )
    )
    by_key = await rpc_error(
        researcher.auth.DeleteAccount(
            auth_pb2.DeleteAccountRequest(password=PASSWORD), metadata=bearer(key.secret)
        )
    )

    assert wrong.code() == grpc.StatusCode.PERMISSION_DENIED
    assert by_key.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await rows_of(admin, researcher.user_id))["projects"] == 1


@pytest.mark.parametrize("call", CALLS_OF_EVERY_KIND)
async def test_a_token_of_a_user_deleted_behind_the_servers_back_is_unauthenticated(
    channel: grpc.aio.Channel, admin: asyncpg.Connection, call: str
) -> None:
    researcher = await signed_in(channel, f"gone-{uuid.uuid4().hex[:10]}@example.org")
    key = await create_api_key(researcher, read_only=False)
    # Both work while the account exists (a read: the call may fail for other reasons).
    await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=researcher.metadata)
    await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(key.secret))

    await admin.execute("DELETE FROM users WHERE id = $1", uuid.UUID(researcher.user_id))

    for credential in (researcher.metadata, bearer(key.secret)):
        error = await rpc_error(CALLS_OF_EVERY_KIND[call](researcher, credential))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
