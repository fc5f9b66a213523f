"""Which resolved addresses an image fetcher may connect to (server-side request forgery rules).

Any component that fetches a URL named in data (the service's `image_url`, the importers' image
downloader) resolves the host, asks `refusal_reason` about every address it got, and connects to the
address it checked. Only globally routable unicast addresses pass; IPv6 forms that carry an IPv4 address
(IPv4-mapped, 6to4, Teredo) are judged by that IPv4 address too, since a relay or a dual-stack socket
would deliver the packets there. An `AllowList` of host names, addresses and networks overrides the rule
(a test server on 127.0.0.1, an internal image host).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints that `is_global` lets through (the others sit in private/link-local ranges).
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("168.63.129.16"),  # Azure wire server
        ipaddress.ip_address("100.100.100.200"),  # Alibaba (also shared address space)
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6 (also unique-local)
    }
)

# Not globally reachable, yet `is_global` passes part of it on some Python versions (before 3.11.10 and
# 3.12.4 only 192.0.0.0/29 and 192.0.0.170/31 of this IETF /24 counted as private).
NOT_GLOBAL_NETWORKS = (ipaddress.ip_network("192.0.0.0/24"),)


def refusal_reason(address: IPAddress) -> str | None:
    """None when `address` may be fetched from, else why not (for the error message)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        inner = refusal_reason(address.ipv4_mapped)
        return f"{address} is IPv4-mapped {address.ipv4_mapped}: {inner}" if inner else None
    reason = _own_reason(address)
    if reason is not None:
        return f"{address} is {reason}"
    if isinstance(address, ipaddress.IPv6Address):
        for form, inner_address in _embedded_ipv4(address):
            inner = _own_reason(inner_address)
            if inner is not None:
                return f"{address} is {form} for {inner_address}, which is {inner}"
    return None


def _own_reason(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata endpoint"
    checks = (
        ("not globally routable", any(address in network for network in NOT_GLOBAL_NETWORKS)),
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    embedded = []
    if address.sixtofour is not None:
        embedded.append(("6to4", address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        embedded += [("Teredo (server)", server), ("Teredo (client)", client)]
    return embedded


@dataclass(frozen=True)
class AllowList:
    """Host names (exact, case-insensitive), addresses and networks exempt from the address rule.

    `"*"` allows everything (for a closed test network only).
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    everything: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Entries as a user types them: `images.example.com`, `10.0.0.7`, `10.0.0.0/8`, `::1`, `*`.

        Raises ValueError naming an entry with a `/` that is not a network.
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        everything = False
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                everything = True
            elif "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"allow-list entry {raw!r} is neither a host nor a network") from None
            else:
                try:
                    networks.append(ipaddress.ip_network(entry.strip("[]")))
                except ValueError:
                    hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks), everything)

    def allows(self, host: str, address: IPAddress | None = None) -> bool:
        """True when the URL's `host` or the `address` it resolved to is on the list."""
        if self.everything or host.lower().strip("[]") in self.hosts:
            return True
        return address is not None and any(address in network for network in self.networks)


def may_connect(host: str, address: IPAddress, allow: AllowList | None = None) -> bool:
    """The whole rule: allow-listed, or a public address."""
    return (allow is not None and allow.allows(host, address)) or refusal_reason(address) is None
