"""Which webhook URLs a bot flow may use: HTTPS anywhere, plain HTTP only on a development host."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Replies carry contacts' personal data: plain HTTP only where it never crosses a public network.
_DEVELOPMENT_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_DEVELOPMENT_NAMES = frozenset({"localhost"})


def is_development_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in _DEVELOPMENT_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _DEVELOPMENT_NETWORKS)


def webhook_url_problem(url: str) -> str | None:
    """Why this URL cannot be a bot flow's webhook, or None when it can."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return "webhook_url must be an https:// URL"
    if parts.username or parts.password:
        return "webhook_url must not carry credentials; the body is signed with the secret instead"
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        return "webhook_url has an invalid port"
    if scheme == "http" and not is_development_host(parts.hostname):
        return (
            "webhook_url must use https; plain http is allowed only for localhost, loopback "
            "and private network addresses (development)"
        )
    return None
