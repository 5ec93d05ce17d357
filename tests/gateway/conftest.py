"""The gateway in front of the session's gRPC server, and in front of the tests' echo server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.proxy import RunningGateway
from tests.gateway.client import GrpcWebClient, base_url, local_gateway
from tests.gateway.echo import EchoServer


@pytest.fixture(scope="session")
async def echo_server() -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    await echo.start()
    yield echo
    assert echo.server is not None
    await echo.server.stop(grace=None)


@pytest.fixture(scope="session")
async def gateway(grpc_server_target: str) -> AsyncIterator[RunningGateway]:
    """The gateway with its defaults (any origin) in front of the session's gRPC server."""
    running = await local_gateway(grpc_server_target)
    yield running
    await running.stop()


@pytest.fixture(scope="session")
async def echo_gateway(echo_server: EchoServer) -> AsyncIterator[RunningGateway]:
    running = await local_gateway(f"127.0.0.1:{echo_server.port}")
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(http: aiohttp.ClientSession, gateway: RunningGateway) -> GrpcWebClient:
    return GrpcWebClient(http, base_url(gateway))


@pytest.fixture
def echo(http: aiohttp.ClientSession, echo_gateway: RunningGateway) -> GrpcWebClient:
    return GrpcWebClient(http, base_url(echo_gateway))
