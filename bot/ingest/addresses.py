"""Which addresses the fetcher may connect to (the SSRF guard's address rules).

An address is public when it is globally routable unicast: not loopback, private,
link-local (169.254.0.0/16, fe80::/10), site-local (fec0::/10, deprecated but still
routed inside some networks), multicast, reserved, unspecified or CGNAT (100.64.0.0/10),
and, for IPv6, embedding no such IPv4 address (IPv4-mapped
::ffff:a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96, Teredo). See bot/ingest/fetch.py
for how the fetcher applies them on every hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour:
        out.append(ip.sixtofour)
    if ip.teredo:
        out.extend(ip.teredo)
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    # IPv4-compatible ::a.b.c.d (deprecated) - is_global is already False for ::/96
    return out


def is_public_address(ip: IP) -> bool:
    """True when `ip` is a globally routable unicast address (and embeds no private one)."""
    if (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    ):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:  # fec0::/10: Python counts it as global
            return False
        return all(is_public_address(v4) for v4 in _embedded_v4(ip))
    return True


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the event loop's getaddrinfo; return its unique addresses."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen[str(sockaddr[0])] = None
    return list(seen)


def parse_ip(text: str) -> IP:
    return ipaddress.ip_address(text.split("%", 1)[0])
