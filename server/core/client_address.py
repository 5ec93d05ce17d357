"""The address a call comes from, for limits kept per client: the peer's, or, when the peer is
a trusted proxy (the grpc-web gateway, Envoy), the one that proxy put in `x-forwarded-for`.

The header is believed only from trusted peers, since anyone can send it. Its entries are read
from the right (each proxy appends the address it received the call from), skipping trusted
proxies, so that a client cannot choose its address by sending an `x-forwarded-for` of its own
through the gateway. IPv6 clients are keyed by their /64: one host commonly has a whole /64.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from server.core.interceptors import RpcContext

FORWARDED_FOR = "x-forwarded-for"
IPV6_CLIENT_PREFIX = 64

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def client_address(context: RpcContext, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The caller's address as a limit key: "203.0.113.7", "2001:db8:1:2::/64", or the peer
    string itself for a peer that is no IP address (a Unix socket)."""
    peer = context.peer() or ""
    address = parse_peer(peer)
    if address is None:
        return peer
    if _trusted(address, trusted_proxies):
        forwarded = (
            str(value) for key, value in context.invocation_metadata() or () if key == FORWARDED_FOR
        )
        address = forwarded_client(address, forwarded, trusted_proxies)
    return client_key(address)


def forwarded_client(
    peer: IPAddress, headers: Iterable[str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress:
    """The client a trusted peer forwarded for: the right-most address of the headers that is
    not itself a trusted proxy (the left-most if all are), or the peer without a usable one."""
    entries = [entry.strip() for header in headers for entry in header.split(",")]
    client = peer
    for entry in reversed(entries):
        address = _parse_forwarded(entry)
        if address is None:
            break  # what is left of a malformed entry cannot be attributed to a proxy we trust
        client = address
        if not _trusted(address, trusted_proxies):
            break
    return client


def client_key(address: IPAddress) -> str:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if isinstance(address, IPv6Address):
        return str(ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)


def parse_peer(peer: str) -> IPAddress | None:
    """The address of a grpc peer string: "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6":
        host = rest.rpartition(":")[0].removeprefix("[").removesuffix("]")
    else:
        return None
    return _parse(host)


def _parse_forwarded(entry: str) -> IPAddress | None:
    """An x-forwarded-for entry: an address, optionally with a port ("[2001:db8::1]:443")."""
    address = _parse(entry)
    if address is not None:
        return address
    if entry.startswith("["):
        return _parse(entry[1:].partition("]")[0])
    host, _, port = entry.rpartition(":")
    return _parse(host) if port.isdigit() and "." in host else None


def _parse(text: str) -> IPAddress | None:
    try:
        return ip_address(text.partition("%")[0])  # without an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None


def _trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_proxies)
