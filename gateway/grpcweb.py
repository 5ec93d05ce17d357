"""The grpc-web wire format (gRPC's doc/PROTOCOL-WEB.md) as pure functions: frames, the
base64 text mode, trailers, grpc-timeout, and HTTP headers <-> gRPC metadata.

A body is a sequence of frames: one flags byte (0x00 a message, 0x80 trailers, bit 0x01 a
compressed message) and a big-endian 4-byte length, then the bytes. The trailer frame holds
HTTP/1 header lines ("grpc-status: 0\\r\\n"). In the text mode (application/grpc-web-text) the
same bytes travel in base64.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import grpc

FRAME_HEADER = struct.Struct(">BI")
MESSAGE_FLAG = 0x00
COMPRESSED_FLAG = 0x01
TRAILERS_FLAG = 0x80

GRPC_STATUS = "grpc-status"
GRPC_MESSAGE = "grpc-message"
GRPC_TIMEOUT = "grpc-timeout"

# gRPC metadata: one value per key, a binary value's key ends in -bin.
MetadataValue = str | bytes
Metadatum = tuple[str, MetadataValue]


class ProtocolError(ValueError):
    """A request that breaks the grpc-web protocol, answered with `code` and the message."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT):
        super().__init__(message)
        self.message = message
        self.code = code


class Mode(enum.Enum):
    """The two encodings of a grpc-web body: raw frames, or the frames in base64."""

    BINARY = "application/grpc-web+proto"
    TEXT = "application/grpc-web-text+proto"

    @property
    def content_type(self) -> str:
        return self.value


_MODES = {
    "application/grpc-web": Mode.BINARY,
    "application/grpc-web+proto": Mode.BINARY,
    "application/grpc-web-text": Mode.TEXT,
    "application/grpc-web-text+proto": Mode.TEXT,
}


def mode_of(content_type: str) -> Mode | None:
    """The mode a request's media type (without parameters) asks for; None if it is not
    grpc-web with protobuf messages (the only encoding the backend speaks)."""
    return _MODES.get(content_type.strip().lower())


@dataclass(frozen=True, slots=True)
class Frame:
    flags: int
    payload: bytes

    @property
    def is_trailers(self) -> bool:
        return bool(self.flags & TRAILERS_FLAG)

    @property
    def is_compressed(self) -> bool:
        return bool(self.flags & COMPRESSED_FLAG)


def encode_frame(payload: bytes, flags: int = MESSAGE_FLAG) -> bytes:
    return FRAME_HEADER.pack(flags, len(payload)) + payload


def decode_frames(body: bytes) -> list[Frame]:
    """Every frame of a complete body, in order; ProtocolError if one is cut short."""
    frames: list[Frame] = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < FRAME_HEADER.size:
            raise ProtocolError("the body ends inside a frame header")
        flags, length = FRAME_HEADER.unpack_from(body, offset)
        start = offset + FRAME_HEADER.size
        if len(body) - start < length:
            raise ProtocolError(f"a frame announces {length} bytes; the body ends before")
        frames.append(Frame(flags, body[start : start + length]))
        offset = start + length
    return frames


def request_messages(body: bytes) -> list[bytes]:
    """The messages of a request body. Browsers send one; a request has no trailers, and
    compressed messages would need a grpc-encoding the gateway does not negotiate."""
    messages: list[bytes] = []
    for frame in decode_frames(body):
        if frame.is_trailers:
            raise ProtocolError("a request body carries no trailer frame")
        if frame.is_compressed:
            raise ProtocolError(
                "compressed request messages are not supported", grpc.StatusCode.UNIMPLEMENTED
            )
        messages.append(frame.payload)
    return messages


def encode_trailers(trailers: Iterable[tuple[str, str]]) -> bytes:
    """The trailer frame: lower-case HTTP/1 header lines."""
    lines = "".join(f"{key.lower()}: {value}\r\n" for key, value in trailers)
    return encode_frame(lines.encode("ascii"), TRAILERS_FLAG)


def decode_trailers(payload: bytes) -> list[tuple[str, str]]:
    """The lines of a trailer frame's payload, keys lower-cased."""
    trailers: list[tuple[str, str]] = []
    for line in payload.decode("ascii").split("\r\n"):
        if line:
            key, _, value = line.partition(":")
            trailers.append((key.strip().lower(), value.strip()))
    return trailers


def encode_text(data: bytes) -> bytes:
    """Bytes of the text mode; the gateway encodes each frame on its own, as it is sent."""
    return base64.b64encode(data)


# One base64 chunk: everything up to and including its padding (or the end of the body).
_BASE64_CHUNK = re.compile(rb"[^=]*=*")


def decode_text(body: bytes) -> bytes:
    """A text-mode body decoded; it may be several base64 chunks, each padded on its own (a
    client that encodes every frame as it writes it)."""
    decoded = bytearray()
    try:
        for chunk in _BASE64_CHUNK.findall(body):
            decoded += base64.b64decode(chunk, validate=True)
    except binascii.Error as error:
        raise ProtocolError(f"the body is not base64: {error}") from None
    return bytes(decoded)


def encoded_text_length(length: int) -> int:
    """How long `length` bytes are in base64."""
    return 4 * ((length + 2) // 3)


_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_TIMEOUT_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_timeout(value: str) -> float:
    """A grpc-timeout header ("1S", "250m": at most 8 digits and a unit) in seconds."""
    match = _TIMEOUT.fullmatch(value.strip())
    if match is None:
        raise ProtocolError(f"malformed grpc-timeout {value!r}")
    return int(match[1]) * _TIMEOUT_UNIT_SECONDS[match[2]]


def percent_encode(message: str) -> str:
    """grpc-message's encoding: printable ASCII but "%" as is, the rest as %XX of UTF-8."""
    return "".join(
        char
        if " " <= char <= "~" and char != "%"
        else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in message
    )


def status_headers(
    code: grpc.StatusCode, message: str, metadata: Iterable[Metadatum] = ()
) -> list[tuple[str, str]]:
    """grpc-status, grpc-message and the call's trailing metadata as header lines: the
    trailer frame's content, or the headers of a trailers-only response."""
    headers = [(GRPC_STATUS, str(code.value[0]))]
    if message:
        headers.append((GRPC_MESSAGE, percent_encode(message)))
    return headers + headers_from_metadata(metadata)


def headers_from_metadata(metadata: Iterable[Metadatum]) -> list[tuple[str, str]]:
    """Metadata as HTTP headers: binary values (grpc-status-details-bin among them) in
    base64, as gRPC carries them over HTTP/2."""
    return [
        (key, base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value)
        for key, value in metadata
    ]


# Headers of the HTTP exchange rather than of the call: hop-by-hop ones (RFC 9110 7.6.1), those
# the browser adds about itself and the grpc-web protocol's own.
_NOT_METADATA = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-type",
        "content-length",
        "content-encoding",
        "accept",
        "accept-encoding",
        "accept-language",
        "user-agent",
        "origin",
        "referer",
        "x-grpc-web",
        "x-accept-content-transfer-encoding",
        "x-accept-response-streaming",
    }
)
# HTTP/2 pseudo-headers; gRPC's reserved grpc-* (grpc-timeout becomes the call's deadline);
# the browser's fetch metadata and CORS request headers.
_NOT_METADATA_PREFIXES = (":", "grpc-", "sec-", "access-control-")
_METADATA_KEY = re.compile(r"[0-9a-z_.\-]+")


def metadata_from_headers(headers: Iterable[tuple[str, str]]) -> list[Metadatum]:
    """The request headers that are the call's metadata (authorization, x-user-agent, ...),
    keys lower-cased, -bin values decoded from base64. A header gRPC cannot carry (a key or
    value outside its character set, a -bin value that is not base64) is left out, so the
    backend answers as it would without it."""
    pairs = [(key.lower(), value) for key, value in headers]
    hop_by_hop = {
        token.strip().lower()
        for key, value in pairs
        if key == "connection"
        for token in value.split(",")
    }
    metadata: list[Metadatum] = []
    for key, value in pairs:
        if (
            key in _NOT_METADATA
            or key in hop_by_hop
            or key.startswith(_NOT_METADATA_PREFIXES)
            or not _METADATA_KEY.fullmatch(key)
        ):
            continue
        if key.endswith("-bin"):
            try:
                binary = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
            except binascii.Error:
                continue
            metadata.append((key, binary))
        elif value.isascii() and value.isprintable():
            metadata.append((key, value))
    return metadata
