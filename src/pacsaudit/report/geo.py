"""Country of an address, offline, for the per-country breakdowns.

The lookup uses ``iptocc``, which embeds the Regional Internet Registries' delegation files in
its wheel: no database download, no API key, no network at report time (a reporter never opens
a socket). RIR data names the country a block was *assigned* to, which is what a national CERT
needs to route a notice, even where the block is used elsewhere.

Addresses that no registry assigns to a country (loopback, private, link-local, documentation
ranges, carrier-grade NAT) are ``local``: they are somebody's own network, not a country.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from iptocc import country_code

LOCAL = "local"
"""Loopback, private and other non-global addresses."""
UNKNOWN = "unknown"
"""A global address that no registry file places in a country (unallocated, or not an IP)."""


@lru_cache(maxsize=65536)
def country_of(ip: str) -> str:
    """ISO 3166-1 alpha-2 code, ``local`` or ``unknown``; never raises on bad input."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        return LOCAL
    return country_code(str(address)) or UNKNOWN
