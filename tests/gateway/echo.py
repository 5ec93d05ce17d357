"""A small gRPC server of the tests' own, for what the product has no method for: showing
the call's metadata and deadline, and a stream that never ends by itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[bytes, bytes]
else:
    Context = grpc.aio.ServicerContext

ECHO_METADATA = "/test.Echo/Metadata"
ECHO_HANG = "/test.Echo/Hang"
ECHO_FAIL = "/test.Echo/Fail"
SERVED_BY = ("x-served-by", "echo")
TRACE = ("x-trace-bin", b"\x00\xfftrace")


@dataclass
class EchoServer:
    """Metadata (unary): the call's metadata and time remaining as JSON, with initial and
    binary trailing metadata of its own. Fail (unary): the same metadata around a NOT_FOUND
    and no message. Hang (server streaming): the request back, then nothing until the call
    is cancelled, which it records."""

    server: grpc.aio.Server | None = None
    port: int = 0
    cancelled: list[bytes] = field(default_factory=list)

    async def metadata(self, request: bytes, context: Context) -> bytes:
        await context.send_initial_metadata((SERVED_BY,))
        context.set_trailing_metadata((TRACE,))
        seen: list[list[Any]] = [
            [key, value.hex() if isinstance(value, bytes) else value]
            for key, value in context.invocation_metadata() or ()
        ]
        return json.dumps({"metadata": seen, "time_remaining": context.time_remaining()}).encode()

    async def fail(self, request: bytes, context: Context) -> bytes:
        await context.send_initial_metadata((SERVED_BY,))
        await context.abort(grpc.StatusCode.NOT_FOUND, "nothing here: 100% sure", (TRACE,))

    async def hang(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        yield request
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(request)
            raise

    async def start(self) -> None:
        handlers = {
            "Metadata": grpc.unary_unary_rpc_method_handler(self.metadata),
            "Hang": grpc.unary_stream_rpc_method_handler(self.hang),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
        }
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Echo", handlers)]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
