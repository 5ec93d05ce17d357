"""API keys for programs over the real server: shown once and stored as a digest, acting as
their user under the same isolation, read-only ones refused every method that changes data,
never able to manage keys, revoked at once, with a last-used time written at most once a
minute."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import grpc
import pytest
from coderai.v1 import auth_pb2, project_pb2

from server.auth.authenticator import LAST_USED_RESOLUTION
from tests.auth.accounts import CALLS_OF_EVERY_KIND, bearer, create_api_key
from tests.factories import Caller, project_message, random_id, rpc_error, signed_in


@pytest.fixture
async def researcher(channel: grpc.aio.Channel) -> Caller:
    return await signed_in(channel, f"keys-{uuid.uuid4().hex[:10]}@example.org")


async def list_keys(caller: Caller) -> list[auth_pb2.ApiKey]:
    response = await caller.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(), metadata=caller.metadata
    )
    return list(response.api_keys)


async def test_a_key_is_shown_once_stored_as_a_digest_and_listed_without_its_secret(
    researcher: Caller, admin: asyncpg.Connection
) -> None:
    created = await create_api_key(researcher, name="nightly export", read_only=True)

    assert created.secret.startswith(f"{created.api_key.prefix}")
    assert created.api_key.prefix.startswith("cak_")
    assert len(created.api_key.prefix) == 12
    assert len(created.secret) > 70  # a 128-bit id and 256 random bits
    [listed] = await list_keys(researcher)
    assert listed == created.api_key
    assert (listed.name, listed.read_only) == ("nightly export", True)
    assert listed.HasField("create_time")
    assert not listed.HasField("last_used_time")
    assert created.secret not in str(listed)
    stored = await admin.fetchrow(
        "SELECT * FROM api_keys WHERE id = $1", uuid.UUID(created.api_key.id)
    )
    assert stored["key_hash"] == hashlib.sha256(created.secret.encode()).digest()
    assert created.secret not in repr(dict(stored))


async def test_a_key_acts_as_its_user_and_sees_only_that_users_data(
    researcher: Caller, channel: grpc.aio.Channel
) -> None:
    other = await signed_in(channel, f"keys-other-{uuid.uuid4().hex[:10]}@example.org")
    others_project = await other.create_project(name="Not yours")
    key = await create_api_key(researcher)

    me = await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(key.secret))
    created = await researcher.projects.CreateProject(
        project_pb2.CreateProjectRequest(project=project_message(name="Made by a program")),
        metadata=bearer(key.secret),
    )
    listed = await researcher.projects.ListProjects(
        project_pb2.ListProjectsRequest(), metadata=bearer(key.secret)
    )
    foreign = await rpc_error(
        researcher.projects.GetProject(
            project_pb2.GetProjectRequest(project_id=others_project.id),
            metadata=bearer(key.secret),
        )
    )

    assert me.user.id == researcher.user_id
    assert [p.id for p in listed.projects] == [created.project.id]
    assert foreign.code() == grpc.StatusCode.NOT_FOUND


async def test_a_read_only_key_reads_but_is_refused_every_change(researcher: Caller) -> None:
    project = await researcher.create_project()
    key = await create_api_key(researcher, read_only=True)

    got = await researcher.projects.GetProject(
        project_pb2.GetProjectRequest(project_id=project.id), metadata=bearer(key.secret)
    )
    refused = {
        name: (await rpc_error(CALLS_OF_EVERY_KIND[name](researcher, bearer(key.secret)))).code()
        for name in ("CreateProject", "UploadDocument")
    }
    deleted = await rpc_error(
        researcher.projects.DeleteProject(
            project_pb2.DeleteProjectRequest(project_id=project.id), metadata=bearer(key.secret)
        )
    )

    assert got.project.id == project.id
    assert refused == {
        "CreateProject": grpc.StatusCode.PERMISSION_DENIED,
        "UploadDocument": grpc.StatusCode.PERMISSION_DENIED,
    }
    assert deleted.code() == grpc.StatusCode.PERMISSION_DENIED
    await researcher.get_project(project.id)  # still there


async def test_a_key_cannot_create_or_revoke_keys(researcher: Caller) -> None:
    key = await create_api_key(researcher, read_only=False)

    create = await rpc_error(
        researcher.auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name="another"), metadata=bearer(key.secret)
        )
    )
    revoke = await rpc_error(
        researcher.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(api_key_id=key.api_key.id), metadata=bearer(key.secret)
        )
    )

    assert create.code() == grpc.StatusCode.PERMISSION_DENIED
    assert revoke.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [k.id for k in await list_keys(researcher)] == [key.api_key.id]


async def test_a_revoked_key_is_unauthenticated_at_once_and_others_keys_cannot_be_revoked(
    researcher: Caller, channel: grpc.aio.Channel
) -> None:
    other = await signed_in(channel, f"keys-other-{uuid.uuid4().hex[:10]}@example.org")
    others_key = await create_api_key(other)
    key = await create_api_key(researcher)
    await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(key.secret))

    foreign = await rpc_error(
        researcher.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(api_key_id=others_key.api_key.id),
            metadata=researcher.metadata,
        )
    )
    await researcher.auth.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(api_key_id=key.api_key.id), metadata=researcher.metadata
    )

    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    for name, call in CALLS_OF_EVERY_KIND.items():
        error = await rpc_error(call(researcher, bearer(key.secret)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, name
    assert await list_keys(researcher) == []
    await other.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(others_key.secret))


@pytest.mark.parametrize(
    "credential",
    [
        "cak_",
        "cak_not-a-key",
        "cak_5f0c2a1e9b7d4c3a8e6f1d2b3c4a5e6f_guessed-secret",
        "cak_5f0c2a1e9b7d4c3a8e6f1d2b3c4a5e6f",
    ],
)
async def test_a_malformed_or_unknown_key_is_unauthenticated(
    researcher: Caller, credential: str
) -> None:
    error = await rpc_error(
        researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(credential))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_keys_id_with_another_secret_is_unauthenticated(researcher: Caller) -> None:
    key = await create_api_key(researcher)
    forged = key.secret[: len("cak_") + 33] + "x" * 43

    error = await rpc_error(researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(forged)))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_last_use_is_recorded_at_most_once_a_minute(
    researcher: Caller, admin: asyncpg.Connection
) -> None:
    key = await create_api_key(researcher)
    key_id = uuid.UUID(key.api_key.id)

    await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(key.secret))
    [first] = await list_keys(researcher)
    for _ in range(5):
        await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(key.secret))
    [unchanged] = await list_keys(researcher)
    # As if the last use were a minute ago: the next call records itself.
    await admin.execute(
        "UPDATE api_keys SET last_used_at = last_used_at - $2::interval WHERE id = $1",
        key_id,
        LAST_USED_RESOLUTION,
    )
    await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(key.secret))
    [later] = await list_keys(researcher)

    assert first.HasField("last_used_time")
    assert unchanged.last_used_time == first.last_used_time
    assert later.last_used_time.ToDatetime() >= first.last_used_time.ToDatetime()
    assert later.last_used_time != unchanged.last_used_time


async def test_a_key_needs_a_name(researcher: Caller) -> None:
    error = await rpc_error(create_api_key(researcher, name="  "))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_revoking_a_key_that_does_not_exist_is_not_found(researcher: Caller) -> None:
    error = await rpc_error(
        researcher.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(api_key_id=random_id()), metadata=researcher.metadata
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
