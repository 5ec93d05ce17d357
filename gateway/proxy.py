"""The product's own grpc-web gateway, for where Envoy (gateway/envoy.yaml) is absent: an
aiohttp app that forwards each grpc-web request to the gRPC backend as a generic call on
bytes, so every method of every service passes without the gateway knowing the protos.

- One stream-stream call per request: on the wire a unary, a server-streaming and a
  client-streaming method look alike (the call kind only shapes a client's API), so the
  request's messages go out as sent and the responses come back frame by frame, each written
  to the browser as it arrives.
- The call's deadline is grpc-timeout; its metadata the request's headers but hop-by-hop and
  HTTP-only ones; the status, message and trailing metadata (grpc-status-details-bin) close
  every response, in the trailer frame or, when no message came, as headers (trailers-only).
- A browser that goes away cancels the backend call: aiohttp cancels the handler
  (handler_cancellation) and the call is cancelled with it.
- A request body holds at most one message of the gRPC message size limit.
- Idle streams: grpc-web has no ping frame (an empty message frame would reach the client as
  a message), so nothing is sent while the backend is quiet and the gateway sets no idle
  timeout of its own. Browser connections use TCP keepalive (probes after 30 s idle), so a
  browser that vanished without closing is noticed and its call cancelled; the backend channel
  pings over HTTP/2 as Envoy's cluster does. A proxy in front must allow idle streams as long as
  a job can be quiet (envoy.yaml: one hour); WatchJob clients resume with the last event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
from aiohttp import web

from gateway import grpcweb
from gateway.grpcweb import Metadatum, Mode, ProtocolError

log = logging.getLogger("coderai.gateway")

# What a browser's grpc-web client sends (Envoy's list in envoy.yaml) and may read.
CORS_ALLOW_HEADERS = (
    "authorization,content-type,grpc-timeout,x-grpc-web,x-user-agent,keep-alive,user-agent,"
    "cache-control,content-transfer-encoding,x-accept-content-transfer-encoding,"
    "x-accept-response-streaming"
)
CORS_EXPOSE_HEADERS = "grpc-status,grpc-message,grpc-status-details-bin"
# Where the gateway tells the backend the browser's address (server.core.client_address).
FORWARDED_FOR = "x-forwarded-for"
CORS_MAX_AGE_SECONDS = 1_728_000
# Browser connections: keepalive probes after this long idle, this often, this many times.
TCP_KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}


@dataclass(frozen=True)
class GatewayConfig:
    """Where to forward and what to accept."""

    backend: str
    allowed_origins: Sequence[str] = ("*",)
    # The largest request message: the gRPC server's (GRPC_MAX_MESSAGE_BYTES, this default).
    max_message_bytes: int = 16 * 1024 * 1024
    # A folder served at "/" (the web page), if any.
    static_dir: Path | None = None
    # The CA bundle that signed the backend's certificate: TLS to the backend (plaintext
    # without); with a client certificate and key, mutual TLS.
    backend_ca_file: Path | None = None
    backend_cert_file: Path | None = None
    backend_key_file: Path | None = None
    # A certificate and key: the gateway serves HTTPS.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


CONFIG = web.AppKey("config", GatewayConfig)
CHANNEL = web.AppKey("channel", grpc.aio.Channel)


def create_app(config: GatewayConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.append(_backend_channel)
    app.on_response_prepare.append(_add_cors_headers)
    app.router.add_post("/{service}/{method}", forward)
    app.router.add_route("OPTIONS", "/{service}/{method}", preflight)
    if config.static_dir is not None:
        index = config.static_dir / "index.html"

        async def index_page(request: web.Request) -> web.FileResponse:
            return web.FileResponse(index)

        app.router.add_get("/", index_page)
        app.router.add_static("/", config.static_dir)
    return app


async def _backend_channel(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    options = [
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Responses are the backend's to limit.
        ("grpc.max_receive_message_length", -1),
        # Notice a dead backend during a quiet stream (the server permits these pings).
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    credentials = _backend_credentials(config)
    async with (
        grpc.aio.insecure_channel(config.backend, options=options)
        if credentials is None
        else grpc.aio.secure_channel(config.backend, credentials, options=options)
    ) as channel:
        app[CHANNEL] = channel
        yield


def _backend_credentials(config: GatewayConfig) -> grpc.ChannelCredentials | None:
    if config.backend_ca_file is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=config.backend_ca_file.read_bytes(),
        private_key=None
        if config.backend_key_file is None
        else config.backend_key_file.read_bytes(),
        certificate_chain=(
            None if config.backend_cert_file is None else config.backend_cert_file.read_bytes()
        ),
    )


def _server_tls(config: GatewayConfig) -> ssl.SSLContext | None:
    """HTTPS for browsers when the gateway has a certificate; None: plain HTTP."""
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    return context


async def forward(request: web.Request) -> web.StreamResponse:
    """One grpc-web call: the request's messages to the backend, its answer back."""
    mode = grpcweb.mode_of(request.content_type)
    if mode is None:
        raise web.HTTPUnsupportedMediaType(
            text="a grpc-web request is application/grpc-web[-text][+proto]"
        )
    config = request.app[CONFIG]
    try:
        messages = grpcweb.request_messages(await _read_body(request, mode, config))
        timeout_header = request.headers.get(grpcweb.GRPC_TIMEOUT)
        timeout = None if timeout_header is None else grpcweb.parse_timeout(timeout_header)
    except ProtocolError as error:
        return _trailers_only(mode, grpcweb.status_headers(error.code, error.message))
    call = request.app[CHANNEL].stream_stream(
        request.path, request_serializer=None, response_deserializer=None
    )(
        iter(messages),
        metadata=forwarded_for(grpcweb.metadata_from_headers(request.headers.items()), request),
        timeout=timeout,
    )
    return await _relay(request, mode, call)


def forwarded_for(metadata: list[Metadatum], request: web.Request) -> list[Metadatum]:
    """The metadata with the browser's address appended to x-forwarded-for, as every proxy on
    the way appends the address it received the call from. Otherwise the server would see
    every browser at the gateway's address; it believes the header only from the proxies it
    trusts (TRUSTED_PROXIES), reading it from the right, so a browser's own header cannot
    choose its address."""
    earlier = [str(value) for key, value in metadata if key == FORWARDED_FOR]
    others = [(key, value) for key, value in metadata if key != FORWARDED_FOR]
    if request.remote is None:  # not a TCP peer: nothing to vouch for
        return others
    return [*others, (FORWARDED_FOR, ", ".join([*earlier, request.remote]))]


async def _read_body(request: web.Request, mode: Mode, config: GatewayConfig) -> bytes:
    """The body decoded; RESOURCE_EXHAUSTED as soon as it is longer than one largest message
    (the rest is not read)."""
    limit = grpcweb.FRAME_HEADER.size + config.max_message_bytes
    # Base64 chunks padded one by one may take a few more characters than the whole.
    raw_limit = limit if mode is Mode.BINARY else grpcweb.encoded_text_length(limit) + 64
    too_large = ProtocolError(
        f"the request is larger than {config.max_message_bytes} bytes",
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    if (request.content_length or 0) > raw_limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > raw_limit:
            raise too_large
    decoded = bytes(body) if mode is Mode.BINARY else grpcweb.decode_text(bytes(body))
    if len(decoded) > limit:
        raise too_large
    return decoded


async def _relay(
    request: web.Request, mode: Mode, call: grpc.aio.StreamStreamCall[bytes, bytes]
) -> web.StreamResponse:
    """Writes each response message as it arrives, then the status; a trailers-only answer
    when the call ends before its first message."""
    response = web.StreamResponse()
    response.content_type = mode.content_type
    try:
        async for message in call:
            if not response.prepared:
                initial = _pairs(await call.initial_metadata())
                response.headers.extend(grpcweb.headers_from_metadata(initial))
                await response.prepare(request)
            await response.write(_encoded(mode, grpcweb.encode_frame(message)))
        code, details = grpc.StatusCode.OK, ""
        initial = _pairs(await call.initial_metadata())
        trailing = _pairs(await call.trailing_metadata())
    except grpc.aio.AioRpcError as error:
        code, details = error.code(), error.details() or ""
        initial, trailing = _pairs(error.initial_metadata()), _pairs(error.trailing_metadata())
    except asyncio.CancelledError:
        log.debug("%s: the client went away; the backend call is cancelled", request.path)
        raise
    except ConnectionResetError:
        log.debug("%s: the connection closed; the backend call is cancelled", request.path)
        return response
    finally:
        call.cancel()  # nothing to do once the call has ended
    trailers = grpcweb.status_headers(code, details, trailing)
    if not response.prepared:
        return _trailers_only(mode, grpcweb.headers_from_metadata(initial) + trailers)
    with contextlib.suppress(ConnectionResetError):  # the call is over; nothing to cancel
        await response.write(_encoded(mode, grpcweb.encode_trailers(trailers)))
        await response.write_eof()
    return response


def _pairs(metadata: Iterable[Any] | None) -> list[Metadatum]:
    # grpc.aio.Metadata iterates (key, value) pairs; its stubs describe a Mapping.
    return list(cast(Iterable[Metadatum], metadata or ()))


def _trailers_only(mode: Mode, headers: list[tuple[str, str]]) -> web.Response:
    """An answer without messages: the status and metadata are its headers."""
    response = web.Response()
    response.headers.extend(headers)
    response.content_type = mode.content_type
    return response


def _encoded(mode: Mode, frame: bytes) -> bytes:
    return frame if mode is Mode.BINARY else grpcweb.encode_text(frame)


def _allowed_origin(request: web.Request) -> str | None:
    """The Access-Control-Allow-Origin for the request's Origin; None if it is not allowed."""
    origin = request.headers.get("Origin")
    allowed = request.app[CONFIG].allowed_origins
    if origin is None:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


async def preflight(request: web.Request) -> web.Response:
    """The browser's CORS preflight before a grpc-web call from another origin."""
    if _allowed_origin(request) is None:
        raise web.HTTPForbidden(text="origin not allowed")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
        },
    )


async def _add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    if "*" not in request.app[CONFIG].allowed_origins:
        response.headers.add("Vary", "Origin")
    origin = _allowed_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS


@dataclass
class RunningGateway:
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


def _listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket with TCP keepalive, which Linux passes on to every connection it
    accepts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in TCP_KEEPALIVE.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    return sock


async def start_gateway(
    config: GatewayConfig, host: str, port: int, shutdown_grace: float = 10.0
) -> RunningGateway:
    """Serves on host:port (0: any free port); calls in flight get `shutdown_grace` seconds
    at stop."""
    runner = web.AppRunner(
        create_app(config), handler_cancellation=True, shutdown_timeout=shutdown_grace
    )
    await runner.setup()
    sock = _listening_socket(host, port)
    try:
        await web.SockSite(runner, sock, ssl_context=_server_tls(config)).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    bound: tuple[Any, ...] = sock.getsockname()
    log.info(
        "grpc-web gateway on %s://%s:%d, forwarding to %s (%s)",
        "http" if config.tls_cert_file is None else "https",
        host,
        bound[1],
        config.backend,
        "plaintext" if config.backend_ca_file is None else "TLS",
    )
    return RunningGateway(runner, int(bound[1]))


async def serve(config: GatewayConfig, host: str, port: int, shutdown_grace: float) -> None:
    """Runs until SIGINT/SIGTERM."""
    running = await start_gateway(config, host, port, shutdown_grace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await running.stop()
