"""The grpc-web gateway over real HTTP in front of real gRPC servers: a browser registers,
creates and reads projects in the binary and text modes; errors arrive with their status,
message and details; CORS lets the configured origins in; grpc-timeout is the backend call's
deadline; a browser that goes away cancels the backend call; limits and malformed requests."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from pathlib import Path

import aiohttp
import grpc
import pytest
from coderai.v1 import auth_pb2, project_pb2

from gateway import grpcweb
from gateway.grpcweb import Mode
from gateway.proxy import CORS_EXPOSE_HEADERS, RunningGateway
from tests.factories import PASSWORD, project_message, random_id
from tests.gateway.client import (
    GrpcWebClient,
    base_url,
    local_gateway,
    read_frames,
    request_body,
    request_headers,
)
from tests.gateway.echo import ECHO_FAIL, ECHO_HANG, ECHO_METADATA, TRACE, EchoServer
from tests.processes import free_port

REGISTER = "/coderai.v1.AuthService/Register"
LOGIN = "/coderai.v1.AuthService/Login"
CREATE_PROJECT = "/coderai.v1.ProjectService/CreateProject"
GET_PROJECT = "/coderai.v1.ProjectService/GetProject"
FRONTEND = "http://localhost:5173"


async def register(client: GrpcWebClient, email: str) -> str:
    """A new researcher's access token, registered and signed in through the gateway."""
    await client.call(
        REGISTER, auth_pb2.RegisterRequest(email=email, password=PASSWORD, display_name="Ada")
    )
    reply = await client.call(LOGIN, auth_pb2.LoginRequest(email=email, password=PASSWORD))
    return reply.message(auth_pb2.LoginResponse).tokens.access_token


async def test_a_researcher_registers_and_creates_a_project_through_the_gateway(
    client: GrpcWebClient, unique_email: str
) -> None:
    registered = await client.call(
        REGISTER, auth_pb2.RegisterRequest(email=unique_email, password=PASSWORD)
    )
    signed_in = await client.call(
        LOGIN, auth_pb2.LoginRequest(email=unique_email, password=PASSWORD)
    )
    token = signed_in.message(auth_pb2.LoginResponse).tokens.access_token

    created = await client.call(
        CREATE_PROJECT,
        project_pb2.CreateProjectRequest(project=project_message(name="Harbour minutes")),
        token=token,
    )
    project = created.message(project_pb2.CreateProjectResponse).project
    fetched = await client.call(
        GET_PROJECT, project_pb2.GetProjectRequest(project_id=project.id), token=token
    )

    assert registered.http_status == 200
    assert registered.headers["Content-Type"] == "application/grpc-web+proto"
    assert registered.code == grpc.StatusCode.OK
    assert not registered.trailers_only  # a message, then the trailer frame
    assert signed_in.message(auth_pb2.LoginResponse).user.email == unique_email
    assert project.name == "Harbour minutes"
    assert fetched.message(project_pb2.GetProjectResponse).project.id == project.id


async def test_the_text_mode_carries_the_same_frames_in_base64(
    client: GrpcWebClient, http: aiohttp.ClientSession, gateway: RunningGateway, unique_email: str
) -> None:
    await register(client, unique_email)
    frame = grpcweb.encode_frame(
        auth_pb2.LoginRequest(email=unique_email, password=PASSWORD).SerializeToString()
    )
    # A body of two base64 chunks, each padded on its own.
    body = base64.b64encode(frame[:7]) + base64.b64encode(frame[7:])

    async with http.post(
        f"{base_url(gateway)}{LOGIN}", data=body, headers=request_headers(Mode.TEXT)
    ) as response:
        raw = await response.read()
    frames = grpcweb.decode_frames(grpcweb.decode_text(raw))

    assert response.headers["Content-Type"] == "application/grpc-web-text+proto"
    assert [frame.is_trailers for frame in frames] == [False, True]
    login = auth_pb2.LoginResponse.FromString(frames[0].payload)
    assert login.user.email == unique_email
    assert dict(grpcweb.decode_trailers(frames[1].payload))["grpc-status"] == "0"
    again = await client.call(
        GET_PROJECT,
        project_pb2.GetProjectRequest(project_id=random_id()),
        mode=Mode.TEXT,
        token=login.tokens.access_token,
    )
    assert again.code == grpc.StatusCode.NOT_FOUND


async def test_an_unknown_project_is_not_found_in_a_trailers_only_response(
    client: GrpcWebClient, unique_email: str
) -> None:
    token = await register(client, unique_email)

    reply = await client.call(
        GET_PROJECT, project_pb2.GetProjectRequest(project_id=random_id()), token=token
    )

    assert reply.http_status == 200
    assert reply.trailers_only
    assert reply.headers["grpc-status"] == "5"
    assert reply.code == grpc.StatusCode.NOT_FOUND
    assert "not found" in reply.details
    status = reply.status()
    assert status is not None
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]


@pytest.mark.parametrize("mode", [Mode.BINARY, Mode.TEXT])
async def test_an_invalid_project_is_invalid_argument_with_its_field_violations(
    client: GrpcWebClient, unique_email: str, mode: Mode
) -> None:
    token = await register(client, f"{mode.name.lower()}-{unique_email}")

    reply = await client.call(
        CREATE_PROJECT,
        project_pb2.CreateProjectRequest(project=project_message(name="", domain="")),
        mode=mode,
        token=token,
    )

    assert reply.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "grpc-status-details-bin" in reply.headers
    assert sorted(reply.bad_request_fields()) == ["project.domain", "project.name"]
    assert "project.name" in reply.details


async def test_a_call_without_a_token_is_unauthenticated(client: GrpcWebClient) -> None:
    reply = await client.call(GET_PROJECT, project_pb2.GetProjectRequest(project_id=random_id()))

    assert reply.code == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in reply.details


async def test_an_unknown_method_is_unimplemented(client: GrpcWebClient) -> None:
    reply = await client.call("/coderai.v1.ProjectService/Teleport", b"")

    assert reply.code == grpc.StatusCode.UNIMPLEMENTED


async def test_a_backend_that_is_down_is_unavailable(
    http: aiohttp.ClientSession,
) -> None:
    gateway = await local_gateway(f"127.0.0.1:{free_port()}")  # nothing listens there
    try:
        reply = await GrpcWebClient(http, base_url(gateway)).call(LOGIN, auth_pb2.LoginRequest())
    finally:
        await gateway.stop()

    assert reply.trailers_only
    assert reply.code == grpc.StatusCode.UNAVAILABLE


async def test_the_preflight_allows_what_grpc_web_clients_send(
    http: aiohttp.ClientSession, gateway: RunningGateway, client: GrpcWebClient
) -> None:
    async with http.options(
        f"{base_url(gateway)}{GET_PROJECT}",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-grpc-web",
        },
    ) as preflight:
        pass
    answer = await client.call(
        GET_PROJECT, project_pb2.GetProjectRequest(), headers={"Origin": FRONTEND}
    )

    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = preflight.headers["Access-Control-Allow-Headers"].split(",")
    for header in ("authorization", "content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"):
        assert header in allowed
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    exposed = answer.headers["Access-Control-Expose-Headers"].split(",")
    assert exposed == ["grpc-status", "grpc-message", "grpc-status-details-bin"]


async def test_only_the_configured_origins_may_call(
    http: aiohttp.ClientSession, grpc_server_target: str
) -> None:
    gateway = await local_gateway(grpc_server_target, allowed_origins=[FRONTEND])
    try:
        client = GrpcWebClient(http, base_url(gateway))
        preflight_headers = {"Access-Control-Request-Method": "POST"}
        async with http.options(
            f"{base_url(gateway)}{GET_PROJECT}", headers={"Origin": FRONTEND, **preflight_headers}
        ) as allowed:
            pass
        async with http.options(
            f"{base_url(gateway)}{GET_PROJECT}",
            headers={"Origin": "https://elsewhere.example", **preflight_headers},
        ) as refused:
            pass
        from_frontend = await client.call(
            GET_PROJECT, project_pb2.GetProjectRequest(), headers={"Origin": FRONTEND}
        )
        from_elsewhere = await client.call(
            GET_PROJECT,
            project_pb2.GetProjectRequest(),
            headers={"Origin": "https://elsewhere.example"},
        )
    finally:
        await gateway.stop()

    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert from_frontend.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert from_frontend.headers["Access-Control-Expose-Headers"] == CORS_EXPOSE_HEADERS
    assert from_frontend.headers["Vary"] == "Origin"
    # The call itself is answered; the browser keeps the answer from the page.
    assert from_elsewhere.code == grpc.StatusCode.UNAUTHENTICATED
    assert "Access-Control-Allow-Origin" not in from_elsewhere.headers


async def test_headers_become_the_calls_metadata_and_metadata_comes_back_as_headers(
    echo: GrpcWebClient,
) -> None:
    reply = await echo.call(
        ECHO_METADATA,
        b"",
        token="abc.def",
        headers={"X-Trace-Bin": base64.b64encode(b"\x00\x01").decode(), "Cookie": "a=b"},
    )

    seen = dict(json.loads(reply.payload)["metadata"])
    assert seen["authorization"] == "Bearer abc.def"
    assert seen["x-user-agent"] == "grpc-web-javascript/0.1"
    assert seen["x-trace-bin"] == "0001"
    assert seen["cookie"] == "a=b"
    for http_only in ("host", "content-type", "content-length", "x-grpc-web", "accept"):
        assert http_only not in seen
    # The backend's initial metadata as headers, its trailing metadata in the trailer frame.
    assert reply.headers["x-served-by"] == "echo"
    assert base64.b64decode(reply.trailers["x-trace-bin"]) == TRACE[1]


async def test_an_error_without_messages_carries_all_metadata_in_its_headers(
    echo: GrpcWebClient,
) -> None:
    reply = await echo.call(ECHO_FAIL, b"")

    assert reply.trailers_only
    assert reply.code == grpc.StatusCode.NOT_FOUND
    assert reply.headers["grpc-message"] == "nothing here: 100%25 sure"
    assert reply.details == "nothing here: 100% sure"
    assert reply.headers["x-served-by"] == "echo"
    assert base64.b64decode(reply.headers["x-trace-bin"]) == TRACE[1]


async def test_grpc_timeout_is_the_backend_calls_deadline(echo: GrpcWebClient) -> None:
    with_timeout = await echo.call(ECHO_METADATA, b"", headers={"Grpc-Timeout": "1500m"})
    without = await echo.call(ECHO_METADATA, b"")

    # gRPC rounds a deadline up a little as it puts it on the wire.
    assert 1.0 < json.loads(with_timeout.payload)["time_remaining"] <= 1.6
    assert "grpc-timeout" not in dict(json.loads(with_timeout.payload)["metadata"])
    assert json.loads(without.payload)["time_remaining"] is None


async def test_a_stream_past_its_deadline_ends_with_deadline_exceeded_after_its_messages(
    echo: GrpcWebClient,
) -> None:
    started_at = asyncio.get_running_loop().time()

    reply = await echo.call(ECHO_HANG, b"first", headers={"Grpc-Timeout": "300m"})

    waited = asyncio.get_running_loop().time() - started_at
    assert reply.messages == [b"first"]
    assert not reply.trailers_only
    assert reply.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.3 <= waited < 5


async def test_a_browser_that_goes_away_cancels_the_backend_call(
    http: aiohttp.ClientSession,
    echo_gateway: RunningGateway,
    echo_server: EchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="coderai.gateway")
    marker = uuid.uuid4().bytes
    async with http.post(
        f"{base_url(echo_gateway)}{ECHO_HANG}", data=request_body(marker), headers=request_headers()
    ) as response:
        first = await anext(aiter(read_frames(response, Mode.BINARY)))
        assert first.payload == marker
        response.close()  # the tab is closed

    for _ in range(100):
        if marker in echo_server.cancelled:
            break
        await asyncio.sleep(0.05)
    assert marker in echo_server.cancelled
    assert "the client went away" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("mode", [Mode.BINARY, Mode.TEXT])
async def test_a_request_over_the_message_size_limit_is_resource_exhausted(
    http: aiohttp.ClientSession, echo_server: EchoServer, mode: Mode
) -> None:
    gateway = await local_gateway(f"127.0.0.1:{echo_server.port}", max_message_bytes=1024)
    try:
        client = GrpcWebClient(http, base_url(gateway))
        fits = await client.call(
            ECHO_HANG, b"x" * 1024, mode=mode, headers={"Grpc-Timeout": "200m"}
        )
        too_large = await client.call(ECHO_HANG, b"x" * 1025, mode=mode)
    finally:
        await gateway.stop()

    assert fits.messages == [b"x" * 1024]  # echoed by the backend
    assert too_large.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than 1024 bytes" in too_large.details


async def test_malformed_requests_are_answered_with_a_status_not_forwarded(
    http: aiohttp.ClientSession, gateway: RunningGateway, client: GrpcWebClient
) -> None:
    cut = grpcweb.FRAME_HEADER.pack(0, 10) + b"short"
    compressed = grpcweb.encode_frame(b"\x1f\x8b", grpcweb.COMPRESSED_FLAG)

    async with http.post(
        f"{base_url(gateway)}{LOGIN}", data=cut, headers=request_headers()
    ) as response:
        cut_frame_status = response.headers["grpc-status"]
    async with http.post(
        f"{base_url(gateway)}{LOGIN}", data=compressed, headers=request_headers()
    ) as response:
        compressed_status = response.headers["grpc-status"]
    bad_timeout = await client.call(
        LOGIN, auth_pb2.LoginRequest(), headers={"Grpc-Timeout": "soon"}
    )
    async with http.post(
        f"{base_url(gateway)}{LOGIN}", data=b"{}", headers={"Content-Type": "application/json"}
    ) as wrong_type:
        pass
    async with http.get(f"{base_url(gateway)}{LOGIN}") as wrong_method:
        pass

    assert cut_frame_status == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert compressed_status == str(grpc.StatusCode.UNIMPLEMENTED.value[0])
    assert bad_timeout.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "grpc-timeout" in bad_timeout.details
    assert wrong_type.status == 415
    assert wrong_method.status == 405


async def test_a_static_folder_is_served_at_the_root_beside_the_api(
    http: aiohttp.ClientSession, grpc_server_target: str, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<h1>CoderAI</h1>")
    (tmp_path / "app.js").write_text("console.log('hi')")
    gateway = await local_gateway(grpc_server_target, static_dir=tmp_path)
    try:
        async with http.get(f"{base_url(gateway)}/") as index:
            index_text = await index.text()
        async with http.get(f"{base_url(gateway)}/app.js") as script:
            script_text = await script.text()
        api = await GrpcWebClient(http, base_url(gateway)).call(
            GET_PROJECT, project_pb2.GetProjectRequest()
        )
    finally:
        await gateway.stop()

    assert index_text == "<h1>CoderAI</h1>"
    assert script_text == "console.log('hi')"
    assert api.code == grpc.StatusCode.UNAUTHENTICATED
