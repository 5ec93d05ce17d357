"""Transport security of the gRPC port: TLS when given a certificate and key (mutual TLS when
also given a client CA), plaintext only on a loopback address unless explicitly allowed."""

from __future__ import annotations

from pathlib import Path

import grpc

from server.core.config import Settings, is_loopback


class PlaintextRefused(RuntimeError):
    """A non-loopback address without TLS and without GRPC_ALLOW_PLAINTEXT."""


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The port's TLS credentials; None for plaintext, which is refused on a non-loopback
    address unless GRPC_ALLOW_PLAINTEXT is set."""
    if settings.grpc_tls_cert_file is not None and settings.grpc_tls_key_file is not None:
        client_ca = settings.grpc_tls_client_ca_file
        return grpc.ssl_server_credentials(
            [(_read(settings.grpc_tls_key_file), _read(settings.grpc_tls_cert_file))],
            root_certificates=None if client_ca is None else _read(client_ca),
            require_client_auth=client_ca is not None,
        )
    if not is_loopback(settings.grpc_listen_addr) and not settings.grpc_allow_plaintext:
        raise PlaintextRefused(
            f"refusing to serve plaintext gRPC on {settings.grpc_listen_addr}, which is not a "
            "loopback address: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE for TLS, or "
            "GRPC_ALLOW_PLAINTEXT=true if a proxy on a private network fronts the server"
        )
    return None


def describe(settings: Settings) -> str:
    if settings.grpc_tls_client_ca_file is not None:
        return "mutual TLS"
    return "TLS" if settings.grpc_tls_cert_file is not None else "plaintext"


def _read(path: Path) -> bytes:
    return path.expanduser().read_bytes()
