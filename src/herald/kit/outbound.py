"""Where Herald may send HTTP requests: the one policy for bot deliveries and the Graph API.

- Always refused: link-local addresses (169.254.0.0/16, fe80::/10), cloud metadata addresses and
  names (169.254.169.254, fd00:ec2::254, metadata.google.internal, ...), unspecified addresses
  (0.0.0.0/8, ::), multicast and reserved ones.
- Refused unless ``HERALD_ALLOW_PRIVATE_URLS=true``: loopback (127.0.0.0/8, ::1, localhost), private
  networks (10/8, 172.16/12, 192.168/16, fc00::/7), carrier-grade NAT (100.64/10) and every other
  address that is not globally reachable.
- https always; plain http only to loopback and private addresses (so only when those are allowed):
  replies and tokens never cross a public network in clear text.

Checked twice. When a URL is saved, `OutboundPolicy.url_problem` judges its scheme and host (a 422
naming the field); host names are not resolved then. On every connection, sessions built by
`client_session` judge each address a name resolves to (a name resolving to any refused address is
refused whole) and each address a socket is about to connect to, IP literals included, so a name
that resolves elsewhere later (DNS rebinding) is still refused. An IPv4 address carried in an IPv6
one (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged as that IPv4 address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LINK_LOCAL = "link-local address"
METADATA = "cloud metadata address"
UNSPECIFIED = "unspecified address"
MULTICAST = "multicast address"
RESERVED = "reserved address"
LOOPBACK = "loopback address"
PRIVATE = "private network address"
PRIVATE_REASONS = frozenset({LOOPBACK, PRIVATE})

_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6 (inside fc00::/7, so it would pass as private)
        "100.100.100.200",  # Alibaba Cloud (inside 100.64/10)
        "192.0.0.192",  # Oracle Cloud
    )
)
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Not globally reachable whatever the Python version's `is_global` says (RFC 6890 and successors).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "fec0::/10", "64:ff9b:1::/48", "2001:db8::/32",
    )
)
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class OutboundRefused(OSError):
    """A connection the outbound URL policy does not allow; raised before any byte is sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused by outbound URL policy: {reason}")
        self.reason = reason


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_kind(address: IPAddress) -> str | None:
    """Why this address is not an ordinary public one (a reason above), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:  # fe80::1%eth0: judged without the zone
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        address = _embedded_ipv4(address) or address
    if address in _METADATA_ADDRESSES:
        return METADATA
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return UNSPECIFIED
    if address.is_link_local:
        return LINK_LOCAL
    if address.is_loopback:  # before `is_reserved`, which ::1 is too
        return LOOPBACK
    if address.is_multicast:
        return MULTICAST
    if address.is_reserved or address == _BROADCAST:
        return RESERVED
    if address.is_private or not address.is_global or any(address in network for network in _NOT_GLOBAL):
        return PRIVATE
    return None


def _host_kind(host: str) -> str | None:
    """The kind of a URL's host as written (no DNS): its address's, or that of a well-known name."""
    try:
        return address_kind(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host in _METADATA_NAMES:
        return METADATA
    if host == "localhost" or host.endswith(".localhost"):
        return LOOPBACK
    return None


def _legacy_ipv4(host: str) -> bool:
    """`127.1`, `2130706433`, `0x7f.0.0.1`: forms getaddrinfo maps onto an address without DNS."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _ascii_host(host: str) -> str | None:
    """The host name in ASCII (IDNA), or None if it is no valid DNS name."""
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return name


@dataclass(frozen=True)
class OutboundPolicy:
    """The rules above; `allow_private_urls` is ``HERALD_ALLOW_PRIVATE_URLS``.

    `resolver` builds the resolver host names go through (default: the system's, via getaddrinfo);
    tests give one of their own to make a name resolve where they want.
    """

    allow_private_urls: bool = False
    resolver: Callable[[], AbstractResolver] | None = None

    def address_problem(self, address: str | IPAddress) -> str | None:
        """Why a connection to this address is refused, or None when it is allowed."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return "not an IP address"
        kind = address_kind(ip)
        if kind is None or (kind in PRIVATE_REASONS and self.allow_private_urls):
            return None
        return kind

    def check_address(self, address: str | IPAddress) -> None:
        problem = self.address_problem(address)
        if problem is not None:
            raise OutboundRefused(problem)

    def url_problem(self, url: str, *, field: str) -> str | None:
        """Why this URL may not be called, as a sentence about `field`; None when it may. No DNS lookup."""
        judged = self._judge(url)
        return None if judged is None else f"{field} {judged[1]}"

    def check_url(self, url: str) -> None:
        """`url_problem` when calling (a URL saved before the policy, say): raises OutboundRefused."""
        judged = self._judge(url)
        if judged is not None:
            raise OutboundRefused(judged[0])

    def _judge(self, url: str) -> tuple[str, str] | None:
        """(short reason, sentence) when the URL is refused."""
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 - urlsplit validates the port lazily
        except ValueError:
            return "invalid URL", "is not a valid URL (check the host and port)"
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return "not an http(s) URL", "must be an https:// URL"
        if parts.username or parts.password:
            return "credentials in the URL", "must not carry credentials"
        host = parts.hostname.rstrip(".")
        if ":" not in host and not _is_ipv4_literal(host):
            if _legacy_ipv4(host):
                return "legacy IPv4 form", "must write an IPv4 address as four decimal numbers (a.b.c.d)"
            ascii_host = _ascii_host(host)
            if ascii_host is None:
                return "invalid host name", "has an invalid host name"
            host = ascii_host
        kind = _host_kind(host)
        if kind is not None and not (kind in PRIVATE_REASONS and self.allow_private_urls):
            advice = " unless HERALD_ALLOW_PRIVATE_URLS is true" if kind in PRIVATE_REASONS else ""
            return kind, f"points to a {kind}, which the outbound URL policy refuses{advice}"
        if scheme == "http" and kind not in PRIVATE_REASONS:
            return "plain http to a public host", (
                "must use https; plain http is allowed only to localhost, loopback and private network "
                "addresses, when HERALD_ALLOW_PRIVATE_URLS is true"
            )
        return None

    def socket_factory(self, addr_info: Any) -> socket.socket:
        """aiohttp's socket factory: the last check, on the exact address about to be connected to."""
        family, type_, proto, _, sockaddr = addr_info
        self.check_address(sockaddr[0])
        return socket.socket(family=family, type=type_, proto=proto)


def _is_ipv4_literal(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


class PolicyResolver(AbstractResolver):
    """Resolves through another resolver and refuses a name if any of its addresses is refused."""

    def __init__(self, policy: OutboundPolicy, inner: AbstractResolver) -> None:
        self.policy = policy
        self.inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            self.policy.check_address(result["host"])
        return results

    async def close(self) -> None:
        await self.inner.close()


def client_session(
    policy: OutboundPolicy,
    *,
    timeout: aiohttp.ClientTimeout,
    limit: int = 100,
    ttl_dns_cache: int | None = 10,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientSession:
    """The only way Herald builds an aiohttp session that calls out: every connection it opens is checked.

    Callers also pass ``allow_redirects=False``: a redirect would be a request to a URL nobody saved.
    Proxies from the environment are ignored (``trust_env=False``): the policy judges the real target.
    """
    inner = policy.resolver() if policy.resolver is not None else ThreadedResolver()
    connector = aiohttp.TCPConnector(
        limit=limit,
        ttl_dns_cache=ttl_dns_cache,
        resolver=PolicyResolver(policy, inner),
        socket_factory=policy.socket_factory,
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers, trust_env=False)


def refusal_of(exc: BaseException) -> OutboundRefused | None:
    """The policy refusal behind an aiohttp error, if that is what it is."""
    if isinstance(exc, OutboundRefused):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, OutboundRefused):
        return exc.os_error
    cause = exc.__cause__
    return cause if isinstance(cause, OutboundRefused) else None
