"""A browser's side of grpc-web for tests: real HTTP with aiohttp, frames built and read with
gateway.grpcweb, messages from the generated SDK."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

import aiohttp
import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from multidict import CIMultiDictProxy

from gateway import grpcweb
from gateway.grpcweb import Frame, Mode
from gateway.proxy import GatewayConfig, RunningGateway, start_gateway

M = TypeVar("M", bound=Message)
CODES = {code.value[0]: code for code in grpc.StatusCode}


def request_body(message: Message | bytes, mode: Mode = Mode.BINARY) -> bytes:
    payload = message if isinstance(message, bytes) else message.SerializeToString()
    frame = grpcweb.encode_frame(payload)
    return frame if mode is Mode.BINARY else grpcweb.encode_text(frame)


def request_headers(
    mode: Mode = Mode.BINARY, token: str | None = None, **extra: str
) -> dict[str, str]:
    """What grpc-web's JavaScript client sends."""
    headers = {
        "Content-Type": mode.content_type,
        "X-Grpc-Web": "1",
        "X-User-Agent": "grpc-web-javascript/0.1",
        "Accept": mode.content_type,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.update({key.replace("_", "-"): value for key, value in extra.items()})
    return headers


async def read_frames(response: aiohttp.ClientResponse, mode: Mode) -> AsyncIterator[Frame]:
    """The response's frames, each as soon as its last byte arrives."""
    encoded = b""
    pending = b""
    async for chunk in response.content.iter_any():
        if mode is Mode.TEXT:
            # Whole groups of four characters decode on their own, padded chunks included.
            encoded += chunk
            whole = len(encoded) // 4 * 4
            pending += grpcweb.decode_text(encoded[:whole])
            encoded = encoded[whole:]
        else:
            pending += chunk
        while len(pending) >= grpcweb.FRAME_HEADER.size:
            flags, length = grpcweb.FRAME_HEADER.unpack_from(pending)
            end = grpcweb.FRAME_HEADER.size + length
            if len(pending) < end:
                break
            yield Frame(flags, pending[grpcweb.FRAME_HEADER.size : end])
            pending = pending[end:]
    assert not encoded, "the text body ends inside a base64 group"
    assert not pending, "the body ends inside a frame"


@dataclass
class Reply:
    """A whole grpc-web response."""

    http_status: int
    headers: CIMultiDictProxy[str]
    messages: list[bytes]
    # From the trailer frame, or from the headers of a trailers-only response.
    trailers: Mapping[str, str]
    trailers_only: bool

    @property
    def code(self) -> grpc.StatusCode:
        return CODES[int(self.trailers[grpcweb.GRPC_STATUS])]

    @property
    def details(self) -> str:
        return unquote(self.trailers.get(grpcweb.GRPC_MESSAGE, ""))

    @property
    def payload(self) -> bytes:
        """The one message of a successful unary answer."""
        assert self.code == grpc.StatusCode.OK, f"{self.code}: {self.details}"
        [payload] = self.messages
        return payload

    def message(self, cls: type[M]) -> M:
        return cls.FromString(self.payload)

    def status(self) -> status_pb2.Status | None:
        """The google.rpc.Status of grpc-status-details-bin."""
        value = self.trailers.get("grpc-status-details-bin")
        if value is None:
            return None
        return status_pb2.Status.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))

    def bad_request_fields(self) -> list[str]:
        status = self.status()
        fields: list[str] = []
        for detail in status.details if status is not None else ():
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                fields.extend(violation.field for violation in bad_request.field_violations)
        return fields


async def reply_of(response: aiohttp.ClientResponse, mode: Mode) -> Reply:
    messages: list[bytes] = []
    trailers: dict[str, str] | None = None
    async for frame in read_frames(response, mode):
        assert trailers is None, "a frame after the trailers"
        if frame.is_trailers:
            trailers = dict(grpcweb.decode_trailers(frame.payload))
        else:
            messages.append(frame.payload)
    trailers_only = trailers is None and not messages and grpcweb.GRPC_STATUS in response.headers
    if trailers_only:
        trailers = {key.lower(): value for key, value in response.headers.items()}
    assert trailers is not None, "the response has no trailers"
    return Reply(response.status, response.headers, messages, trailers, trailers_only)


@dataclass
class GrpcWebClient:
    """Calls through the gateway at `base_url` as a browser page would."""

    session: aiohttp.ClientSession
    base_url: str

    async def call(
        self,
        method: str,
        request: Message | bytes,
        *,
        mode: Mode = Mode.BINARY,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """POSTs one request message to /service/method and reads the whole answer."""
        async with self.session.post(
            f"{self.base_url}{method}",
            data=request_body(request, mode),
            headers={**request_headers(mode, token), **(headers or {})},
        ) as response:
            return await reply_of(response, mode)


async def local_gateway(backend: str, **config: Any) -> RunningGateway:
    """A gateway on a free loopback port in front of `backend`."""
    return await start_gateway(GatewayConfig(backend=backend, **config), "127.0.0.1", 0)


def base_url(gateway: RunningGateway) -> str:
    return f"http://127.0.0.1:{gateway.port}"
