"""The fetch address rule: only globally routable unicast addresses, judged through IPv6 wrappers too."""

from __future__ import annotations

import ipaddress

import pytest

from courier_core.addresses import AllowList, may_connect, refusal_reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "151.101.1.69",
        "2606:4700:4700::1111",
        "2002:808:808::1",  # 6to4 wrapping a public IPv4
        "::ffff:8.8.8.8",  # IPv4-mapped public
    ],
)
def test_public_addresses_may_be_fetched(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata on AWS/GCP
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("192.0.0.8", "not globally routable"),  # IETF protocol assignments (is_global says True on 3.11.7)
        ("192.0.0.9", "not globally routable"),
        ("64:ff9b::7f00:1", "reserved"),  # NAT64 (all of ::/8 is reserved, whatever IPv4 it carries)
        ("100.100.100.200", "metadata"),  # Alibaba metadata
        ("168.63.129.16", "metadata"),  # Azure wire server: is_global would let it through
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),  # is_global is True for multicast
        ("240.0.0.1", "reserved"),
        ("198.18.0.1", "private"),  # benchmarking range
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
    ],
)
def test_non_public_addresses_are_refused_with_the_reason(address: str, words: str) -> None:
    reason = refusal_reason(ipaddress.ip_address(address))
    assert reason is not None and words in reason


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4 for loopback: is_global alone says True
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4 for the metadata endpoint
        ("2002:c0a8:101::", "192.168.1.1"),
    ],
)
def test_ipv6_forms_are_judged_by_the_ipv4_address_they_carry(address: str, inner: str) -> None:
    parsed = ipaddress.ip_address(address)
    reason = refusal_reason(parsed)
    assert reason is not None and inner in reason


def test_teredo_addresses_are_refused() -> None:
    # Teredo server 65.54.227.120, client (obfuscated) 127.0.0.1.
    assert refusal_reason(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:80ff:fffe")) is not None


def test_the_allow_list_takes_hosts_addresses_and_networks() -> None:
    allow = AllowList.parse(["Images.Example.com", "127.0.0.1", "10.0.0.0/8", "[::1]", " "])
    loopback = ipaddress.ip_address("127.0.0.1")
    assert allow.allows("images.example.com")
    assert allow.allows("localhost", loopback)  # the resolved address is on the list
    assert allow.allows("internal", ipaddress.ip_address("10.9.8.7"))
    assert allow.allows("ip6-localhost", ipaddress.ip_address("::1"))
    assert not allow.allows("other.example.com", ipaddress.ip_address("192.168.0.1"))
    assert may_connect("localhost", loopback, allow)
    assert not may_connect("localhost", loopback)  # no allow-list: loopback is refused
    assert may_connect("example.com", ipaddress.ip_address("93.184.215.14"))
    assert AllowList.parse(["*"]).allows("anything", ipaddress.ip_address("127.0.0.1"))


def test_a_malformed_network_entry_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="10.0.0.0/99"):
        AllowList.parse(["10.0.0.0/99"])
