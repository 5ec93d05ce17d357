"""The grpc-web wire format as PROTOCOL-WEB.md specifies it: frames, the base64 text mode,
trailers, grpc-timeout and which headers become the call's metadata."""

from __future__ import annotations

import base64

import grpc
import pytest

from gateway import grpcweb
from gateway.grpcweb import Frame, Mode, ProtocolError


def test_a_message_frame_is_a_zero_flag_byte_a_big_endian_length_and_the_bytes() -> None:
    assert grpcweb.encode_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert grpcweb.encode_frame(b"") == b"\x00\x00\x00\x00\x00"
    assert grpcweb.encode_frame(b"x" * 256)[:5] == b"\x00\x00\x00\x01\x00"


def test_a_body_decodes_into_its_frames_in_order() -> None:
    body = grpcweb.encode_frame(b"one") + grpcweb.encode_frame(b"") + b"\x80\x00\x00\x00\x02ab"

    frames = grpcweb.decode_frames(body)

    assert frames == [Frame(0, b"one"), Frame(0, b""), Frame(0x80, b"ab")]
    assert [frame.is_trailers for frame in frames] == [False, False, True]
    assert grpcweb.decode_frames(b"") == []


@pytest.mark.parametrize(
    "body",
    [b"\x00\x00\x00", b"\x00\x00\x00\x00\x05abc", grpcweb.encode_frame(b"ok") + b"\x00"],
    ids=["cut header", "cut payload", "cut second frame"],
)
def test_a_body_cut_inside_a_frame_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError) as raised:
        grpcweb.decode_frames(body)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_request_carries_messages_but_no_trailers_and_nothing_compressed() -> None:
    assert grpcweb.request_messages(grpcweb.encode_frame(b"a") + grpcweb.encode_frame(b"b")) == [
        b"a",
        b"b",
    ]
    with pytest.raises(ProtocolError) as trailers:
        grpcweb.request_messages(grpcweb.encode_trailers([("grpc-status", "0")]))
    with pytest.raises(ProtocolError) as compressed:
        grpcweb.request_messages(grpcweb.encode_frame(b"a", grpcweb.COMPRESSED_FLAG))

    assert trailers.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert compressed.value.code == grpc.StatusCode.UNIMPLEMENTED


def test_trailers_are_lower_case_header_lines_in_a_frame_flagged_0x80() -> None:
    frame = grpcweb.encode_trailers([("grpc-status", "5"), ("Grpc-Message", "not%20found")])

    lines = b"grpc-status: 5\r\ngrpc-message: not%20found\r\n"
    assert frame == b"\x80" + len(lines).to_bytes(4, "big") + lines
    [decoded] = grpcweb.decode_frames(frame)
    assert grpcweb.decode_trailers(decoded.payload) == [
        ("grpc-status", "5"),
        ("grpc-message", "not%20found"),
    ]


def test_status_headers_carry_code_message_and_binary_metadata_in_base64() -> None:
    details = b"\x08\x05\x12\x03why"

    headers = grpcweb.status_headers(
        grpc.StatusCode.NOT_FOUND, "project 7 not found", [("grpc-status-details-bin", details)]
    )

    assert headers == [
        ("grpc-status", "5"),
        ("grpc-message", "project 7 not found"),
        ("grpc-status-details-bin", base64.b64encode(details).decode()),
    ]
    assert grpcweb.status_headers(grpc.StatusCode.OK, "") == [("grpc-status", "0")]


def test_grpc_message_is_percent_encoded_beyond_printable_ascii() -> None:
    assert grpcweb.percent_encode("plain text: ok") == "plain text: ok"
    assert grpcweb.percent_encode("100% sure") == "100%25 sure"
    assert grpcweb.percent_encode("café\nnext") == "caf%C3%A9%0Anext"


def test_the_text_mode_is_base64_of_the_same_frames() -> None:
    frame = grpcweb.encode_frame(b"hello")

    assert grpcweb.encode_text(frame) == base64.b64encode(frame)
    assert grpcweb.decode_text(grpcweb.encode_text(frame)) == frame


def test_a_text_body_may_be_several_base64_chunks_each_padded_on_its_own() -> None:
    first, second = grpcweb.encode_frame(b"a"), grpcweb.encode_frame(b"bc")
    chunks = base64.b64encode(first) + base64.b64encode(second)
    assert chunks.count(b"=") == 2  # padding in the middle and at the end

    assert grpcweb.decode_text(chunks) == first + second


@pytest.mark.parametrize("body", [b"not base64!", b"QUJ", b"QQ==Q"])
def test_a_text_body_that_is_not_base64_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        grpcweb.decode_text(body)


def test_base64_length_of_a_limit() -> None:
    for length in range(10):
        assert grpcweb.encoded_text_length(length) == len(base64.b64encode(b"x" * length))


@pytest.mark.parametrize(
    ("content_type", "mode"),
    [
        ("application/grpc-web", Mode.BINARY),
        ("application/grpc-web+proto", Mode.BINARY),
        ("Application/GRPC-Web+proto", Mode.BINARY),
        ("application/grpc-web-text", Mode.TEXT),
        ("application/grpc-web-text+proto", Mode.TEXT),
        ("application/grpc-web+json", None),
        ("application/grpc", None),
        ("application/json", None),
    ],
)
def test_the_content_type_selects_binary_or_text(content_type: str, mode: Mode | None) -> None:
    assert grpcweb.mode_of(content_type) is mode


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1H", 3600.0),
        ("2M", 120.0),
        ("3S", 3.0),
        ("250m", 0.25),
        ("1500u", 0.0015),
        ("99999999n", 0.099999999),
    ],
)
def test_grpc_timeout_is_at_most_eight_digits_and_a_unit(header: str, seconds: float) -> None:
    assert grpcweb.parse_timeout(header) == pytest.approx(seconds)


@pytest.mark.parametrize("header", ["", "S", "1", "1s", "1.5S", "-1S", "123456789S", "1 S"])
def test_a_malformed_grpc_timeout_is_a_protocol_error(header: str) -> None:
    with pytest.raises(ProtocolError):
        grpcweb.parse_timeout(header)


def test_request_headers_become_metadata_without_hop_by_hop_and_http_only_ones() -> None:
    headers = [
        ("Host", "localhost:8080"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "dropped: named by Connection"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Type", "application/grpc-web+proto"),
        ("Content-Length", "12"),
        ("Accept", "application/grpc-web+proto"),
        ("User-Agent", "Mozilla/5.0"),
        ("Origin", "http://localhost:5173"),
        ("Sec-Fetch-Mode", "cors"),
        ("X-Grpc-Web", "1"),
        ("Grpc-Timeout", "1S"),
        (":authority", "localhost"),
        ("Authorization", "Bearer abc.def"),
        ("X-User-Agent", "grpc-web-javascript/0.1"),
        ("X-Request-Id", "42"),
    ]

    assert grpcweb.metadata_from_headers(headers) == [
        ("authorization", "Bearer abc.def"),
        ("x-user-agent", "grpc-web-javascript/0.1"),
        ("x-request-id", "42"),
    ]


def test_binary_metadata_is_decoded_from_base64_padded_or_not() -> None:
    assert grpcweb.metadata_from_headers(
        [("X-Trace-Bin", "AAH/"), ("X-Key-Bin", "AQ"), ("X-Pad-Bin", "AQ==")]
    ) == [("x-trace-bin", b"\x00\x01\xff"), ("x-key-bin", b"\x01"), ("x-pad-bin", b"\x01")]


def test_headers_grpc_cannot_carry_are_left_out() -> None:
    assert (
        grpcweb.metadata_from_headers(
            [("X-Name", "Zoë"), ("X-Bad-Bin", "not base64!"), ("X_Weird!", "v"), ("X-Tab", "a\tb")]
        )
        == []
    )


def test_metadata_becomes_headers_with_binary_values_in_base64() -> None:
    assert grpcweb.headers_from_metadata(
        [("x-served-by", "echo"), ("x-trace-bin", b"\x00\xff")]
    ) == [
        ("x-served-by", "echo"),
        ("x-trace-bin", "AP8="),
    ]
