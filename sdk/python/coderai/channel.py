"""Opening a channel to a CoderAI server: TLS or mutual TLS, and an API key on every call.

    from coderai.channel import Tls, connect
    from coderai.v1 import project_pb2, project_pb2_grpc

    tls = Tls(root_certificates=open("ca.crt", "rb").read())  # None: the system's roots
    async with connect("api.example.org:50051", tls=tls, api_key="cak_...") as channel:
        projects = project_pb2_grpc.ProjectServiceStub(channel)
        await projects.ListProjects(project_pb2.ListProjectsRequest())

Without `tls` the channel is plaintext, which the server accepts on loopback only (unless it
was started with GRPC_ALLOW_PLAINTEXT): with an API key, the key is then sent only over a
connection that is really local (grpc's local credentials check it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc


@dataclass(frozen=True)
class Tls:
    """What the channel trusts and, for mutual TLS, the client's certificate (PEM bytes)."""

    # The CA bundle that signed the server's certificate; None: the system's trusted roots.
    root_certificates: bytes | None = None
    # Both or neither: the client's certificate chain and private key, for mutual TLS.
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    # The name the server's certificate must carry when it differs from the target's host.
    server_name: str | None = None


def api_key_credentials(api_key: str) -> grpc.CallCredentials:
    """Sends `authorization: Bearer <api_key>` with every call (API keys start with cak_)."""
    return grpc.access_token_call_credentials(api_key)


def connect(
    target: str,
    *,
    tls: Tls | None = None,
    api_key: str | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A grpc.aio channel to `target` (host:port): TLS with `tls`, plaintext without; every
    call carries `api_key` when given."""
    credentials, channel_options = _credentials(tls, api_key, options)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=channel_options)
    return grpc.aio.secure_channel(target, credentials, options=channel_options)


def connect_blocking(
    target: str,
    *,
    tls: Tls | None = None,
    api_key: str | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    """The same as `connect`, for blocking calls (scripts, notebooks: coderai.Client)."""
    credentials, channel_options = _credentials(tls, api_key, options)
    if credentials is None:
        return grpc.insecure_channel(target, options=channel_options)
    return grpc.secure_channel(target, credentials, options=channel_options)


def _credentials(
    tls: Tls | None, api_key: str | None, options: Sequence[tuple[str, Any]]
) -> tuple[grpc.ChannelCredentials | None, list[tuple[str, Any]]]:
    """The channel's credentials (None: plaintext without a key) and options."""
    channel_options = list(options)
    if tls is None:
        if api_key is None:
            return None, channel_options
        local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        return grpc.composite_channel_credentials(local, api_key_credentials(api_key)), (
            channel_options
        )
    if tls.server_name is not None:
        channel_options.append(("grpc.ssl_target_name_override", tls.server_name))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.root_certificates,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )
    if api_key is not None:
        credentials = grpc.composite_channel_credentials(credentials, api_key_credentials(api_key))
    return credentials, channel_options
