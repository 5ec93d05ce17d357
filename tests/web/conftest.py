"""The job stack of tests/jobs (local LLM server, gRPC server, a real worker) with the
product's grpc-web gateway in front of it, serving the built page of web/ at "/"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.proxy import GatewayConfig, RunningGateway, start_gateway
from tests.jobs.conftest import Stack, researcher, stack, stack_channel, worker
from tests.processes import ROOT

# Re-exported: pytest finds fixtures by name in this module.
__all__ = ["researcher", "stack", "stack_channel", "web_gateway", "worker"]

WEB_DIST = ROOT / "web" / "dist"


@pytest.fixture(scope="module")
async def web_gateway(stack: Stack) -> AsyncIterator[RunningGateway]:
    """`coderai gateway --static web/dist` in this event loop, on a free loopback port."""
    if not (WEB_DIST / "app.js").is_file():
        pytest.fail(f"{WEB_DIST} has no app.js: run scripts/setup (or npm run build in web/)")
    config = GatewayConfig(backend=stack.target, static_dir=WEB_DIST)
    running = await start_gateway(config, "127.0.0.1", 0, shutdown_grace=1)
    yield running
    await running.stop()
