"""Where a subscription may deliver: https (http only in the local profile), and in the
production profile never to loopback, private, link-local or otherwise internal
addresses (SSRF). Every address a host resolves to is checked."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """The URL or one of its addresses is not allowed."""


def check_url(url: str, *, local: bool) -> str:
    """The URL's host, or ``TargetRefused``."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise TargetRefused("the URL must be https")
    if parts.scheme == "http" and not local:
        raise TargetRefused("the URL must be https (http only in the local profile)")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed")
    return parts.hostname


def refused_address(address: str) -> str | None:
    """Why an address is not a public target, or None when it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what, flag in (
        ("loopback", ip.is_loopback),
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
        ("not globally routable", not ip.is_global),
    ):
        if flag:
            return f"{ip} is {what}"
    return None


def check_addresses(host: str, addresses: Iterable[str], *, local: bool) -> None:
    """Raise ``TargetRefused`` if the host resolves to nothing, or (outside the local
    profile) to any address that is not public."""
    addresses = list(addresses)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if local:
        return
    for address in addresses:
        reason = refused_address(address)
        if reason:
            raise TargetRefused(f"{host}: {reason} (refused outside the local profile)")
