"""Transport security of the real server: TLS with a certificate and key, mutual TLS with a
client CA (a client without a certificate, or with one from another CA, is refused), the
Python SDK's channel with an API key, the grpc-web gateway to a TLS backend and serving
HTTPS, and plaintext refused on anything but loopback unless explicitly allowed."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from coderai.channel import Tls, connect
from coderai.v1 import auth_pb2, auth_pb2_grpc, project_pb2, project_pb2_grpc
from redis.asyncio import Redis

from server.core.config import Settings, is_loopback
from server.core.db import Database
from server.core.transport import PlaintextRefused
from server.main import RunningServer, start_server
from tests.certificates import Authority, Issued
from tests.conftest import TEST_REDIS_URL
from tests.factories import rpc_error, signed_in
from tests.gateway.client import GrpcWebClient, local_gateway
from tests.processes import ROOT

TLS_CONNECT_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Issued, Issued, Issued]:
    """A CA, its server certificate, its client certificate, and a client certificate from
    another CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "coderai-test-ca")
    stranger = Authority(directory, "stranger-ca").client("stranger")
    return ca, ca.server(), ca.client("gateway"), stranger


async def running(settings: Settings, database: Database, redis: Redis) -> RunningServer:
    return await start_server(settings, database, redis, TEST_REDIS_URL, port=0)


@pytest.fixture(scope="module")
async def tls_server(
    settings: Settings,
    database: Database,
    redis: Redis,
    pki: tuple[Authority, Issued, Issued, Issued],
) -> AsyncIterator[RunningServer]:
    _, server_cert, _, _ = pki
    server = await running(
        settings.model_copy(
            update={
                "grpc_tls_cert_file": server_cert.cert_file,
                "grpc_tls_key_file": server_cert.key_file,
            }
        ),
        database,
        redis,
    )
    yield server
    await server.stop(grace=1)


@pytest.fixture(scope="module")
async def mtls_server(
    settings: Settings,
    database: Database,
    redis: Redis,
    pki: tuple[Authority, Issued, Issued, Issued],
) -> AsyncIterator[RunningServer]:
    ca, server_cert, _, _ = pki
    server = await running(
        settings.model_copy(
            update={
                "grpc_tls_cert_file": server_cert.cert_file,
                "grpc_tls_key_file": server_cert.key_file,
                "grpc_tls_client_ca_file": ca.cert_file,
            }
        ),
        database,
        redis,
    )
    yield server
    await server.stop(grace=1)


def email() -> str:
    return f"tls-{uuid.uuid4().hex[:10]}@example.org"


async def test_a_tls_port_serves_tls_clients_and_refuses_plaintext(
    tls_server: RunningServer, pki: tuple[Authority, Issued, Issued, Issued]
) -> None:
    ca, _, _, _ = pki
    target = f"localhost:{tls_server.port}"
    async with connect(target, tls=Tls(root_certificates=ca.cert)) as channel:
        researcher = await signed_in(channel, email())
        me = await researcher.auth.GetMe(auth_pb2.GetMeRequest(), metadata=researcher.metadata)
    async with grpc.aio.insecure_channel(target) as plaintext:
        refused = await rpc_error(
            auth_pb2_grpc.AuthServiceStub(plaintext).GetMe(
                auth_pb2.GetMeRequest(), timeout=TLS_CONNECT_TIMEOUT
            )
        )

    assert me.user.id == researcher.user_id
    assert refused.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_sdk_channel_sends_an_api_key_over_tls(
    tls_server: RunningServer, pki: tuple[Authority, Issued, Issued, Issued]
) -> None:
    ca, _, _, _ = pki
    target = f"127.0.0.1:{tls_server.port}"
    tls = Tls(root_certificates=ca.cert, server_name="localhost")
    async with connect(target, tls=tls) as channel:
        researcher = await signed_in(channel, email())
        key = await researcher.auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name="service"), metadata=researcher.metadata
        )
    async with connect(target, tls=tls, api_key=key.secret) as channel:
        me = await auth_pb2_grpc.AuthServiceStub(channel).GetMe(auth_pb2.GetMeRequest())

    assert me.user.id == researcher.user_id


async def test_mutual_tls_refuses_a_client_without_a_certificate_of_its_ca(
    mtls_server: RunningServer, pki: tuple[Authority, Issued, Issued, Issued]
) -> None:
    ca, _, client, stranger = pki
    target = f"localhost:{mtls_server.port}"
    with_cert = Tls(
        root_certificates=ca.cert, certificate_chain=client.cert, private_key=client.key
    )
    strangers = Tls(
        root_certificates=ca.cert, certificate_chain=stranger.cert, private_key=stranger.key
    )

    async with connect(target, tls=with_cert) as channel:
        researcher = await signed_in(channel, email())
    codes = []
    for tls in (Tls(root_certificates=ca.cert), strangers):
        async with connect(target, tls=tls) as channel:
            error = await rpc_error(
                auth_pb2_grpc.AuthServiceStub(channel).GetMe(
                    auth_pb2.GetMeRequest(),
                    metadata=researcher.metadata,
                    timeout=TLS_CONNECT_TIMEOUT,
                )
            )
            codes.append(error.code())

    assert researcher.user_id
    assert codes == [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]


async def test_the_gateway_reaches_a_mutual_tls_backend_and_serves_https(
    mtls_server: RunningServer, pki: tuple[Authority, Issued, Issued, Issued]
) -> None:
    ca, server_cert, client, _ = pki
    async with connect(
        f"localhost:{mtls_server.port}",
        tls=Tls(root_certificates=ca.cert, certificate_chain=client.cert, private_key=client.key),
    ) as channel:
        researcher = await signed_in(channel, email())
    gateway = await local_gateway(
        f"localhost:{mtls_server.port}",
        backend_ca_file=ca.cert_file,
        backend_cert_file=client.cert_file,
        backend_key_file=client.key_file,
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
    )
    trust = ssl.create_default_context(cafile=str(ca.cert_file))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            browser = GrpcWebClient(http, f"https://localhost:{gateway.port}")
            reply = await browser.call(
                "/coderai.v1.ProjectService/ListProjects",
                project_pb2.ListProjectsRequest(),
                headers=dict(researcher.metadata),
            )
    finally:
        await gateway.stop()

    assert reply.code == grpc.StatusCode.OK, reply.details
    assert list(reply.message(project_pb2.ListProjectsResponse).projects) == []


async def test_plaintext_on_a_non_loopback_address_is_refused_unless_allowed(
    settings: Settings, database: Database, redis: Redis
) -> None:
    everywhere = settings.model_copy(update={"grpc_listen_addr": "0.0.0.0"})

    with pytest.raises(PlaintextRefused, match="GRPC_ALLOW_PLAINTEXT"):
        await running(everywhere, database, redis)
    allowed = await running(
        everywhere.model_copy(update={"grpc_allow_plaintext": True}), database, redis
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{allowed.port}") as channel:
            projects = project_pb2_grpc.ProjectServiceStub(channel)
            error = await rpc_error(projects.ListProjects(project_pb2.ListProjectsRequest()))
    finally:
        await allowed.stop(grace=1)

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # served, and authentication asked


def coderai(*command: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`coderai COMMAND` in a subprocess with the given settings (and none of the test
    run's own server, database and secret settings)."""
    own = ("GRPC_", "GATEWAY_", "DATABASE_", "JWT_")
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *command],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(own)}, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_coderai_serve_refuses_plaintext_on_every_interface_with_a_clear_message() -> None:
    finished = coderai("serve", GRPC_LISTEN_ADDR="0.0.0.0", JWT_SECRET=SECRET)

    assert finished.returncode == 2
    assert "refusing to serve plaintext gRPC on 0.0.0.0" in finished.stderr
    assert "GRPC_TLS_CERT_FILE" in finished.stderr


SECRET = "a-secret-of-the-deployment-" + "x" * 20


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        (("serve",), "GRPC_LISTEN_ADDR"),
        (("serve",), "GRPC_HOST"),  # the deprecated name is read too
        (("gateway",), "GATEWAY_HOST"),
    ],
)
def test_a_public_address_with_the_development_jwt_secret_is_refused(
    command: tuple[str, ...], setting: str
) -> None:
    finished = coderai(*command, **{setting: "0.0.0.0"})

    assert finished.returncode == 2, finished.stderr
    shown = setting.replace("GRPC_HOST", "GRPC_LISTEN_ADDR")
    assert f"{shown}=0.0.0.0 is not a loopback address" in finished.stderr
    assert "JWT_SECRET" in finished.stderr


def test_the_listen_address_is_loopback_unless_set() -> None:
    assert Settings(_env_file=None).grpc_listen_addr == "127.0.0.1"
    assert Settings(_env_file=None).gateway_host == "127.0.0.1"
    chosen = Settings(_env_file=None, grpc_listen_addr="0.0.0.0", jwt_secret=SECRET)
    assert chosen.grpc_listen_addr == "0.0.0.0"
    # Loopback is fine with the development secret.
    assert Settings(_env_file=None, grpc_listen_addr="::1").grpc_listen_addr == "::1"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("server", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
