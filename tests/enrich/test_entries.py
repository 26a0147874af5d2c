"""ListBuilder/ListEntries: validation and normalisation of IPs, CIDRs, ranges and domains."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailguard.enrich.entries import MAX_BAD_KEPT, ListBuilder, ListEntries


def v4(entries: ListEntries) -> list[tuple[str, str]]:
    return [
        (str(ipaddress.IPv4Address(a)), str(ipaddress.IPv4Address(b)))
        for a, b in zip(entries.v4_start, entries.v4_end, strict=True)
    ]


def v6(entries: ListEntries) -> list[tuple[str, str]]:
    return [
        (str(ipaddress.IPv6Address(sh << 64 | sl)), str(ipaddress.IPv6Address(eh << 64 | el)))
        for sh, sl, eh, el in zip(
            entries.v6_start_hi,
            entries.v6_start_lo,
            entries.v6_end_hi,
            entries.v6_end_lo,
            strict=True,
        )
    ]


def built(*tokens: str) -> ListEntries:
    builder = ListBuilder()
    for token in tokens:
        builder.add_token(token)
    return builder.build()


def reason(call: object, *args: str) -> str:
    assert callable(call)
    with pytest.raises(ValueError) as info:
        call(*args)
    return str(info.value)


# --- addresses ----------------------------------------------------------------------------


def test_single_ipv4_is_a_range_of_one() -> None:
    entries = built("192.0.2.1")
    assert v4(entries) == [("192.0.2.1", "192.0.2.1")]
    assert entries.v4_start.typecode == "Q" and entries.v4_info.typecode == "i"
    assert list(entries.v4_info) == [-1]
    assert len(entries) == 1


def test_cidr_with_host_bits_is_widened_to_its_network() -> None:
    entries = built("192.0.2.77/24", "198.51.100.0/32", "0.0.0.0/0", "2001:db8::1/32")
    assert v4(entries) == [
        ("192.0.2.0", "192.0.2.255"),
        ("198.51.100.0", "198.51.100.0"),
        ("0.0.0.0", "255.255.255.255"),
    ]
    assert v6(entries) == [("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")]


def test_ipv6_is_split_into_two_64_bit_halves() -> None:
    entries = built("2001:db8::dead:beef")
    assert entries.v6_start_hi[0] == 0x20010DB800000000
    assert entries.v6_start_lo[0] == 0xDEADBEEF
    assert entries.v6_end_lo[0] == 0xDEADBEEF
    assert list(entries.v6_info) == [-1]


def test_ranges_of_both_families() -> None:
    builder = ListBuilder()
    builder.add_range("192.0.2.10", "192.0.2.20")
    builder.add_range("2001:db8::1", "2001:db8::ff", "Scanning Host")
    builder.add_token("198.51.100.1 - 198.51.100.9")
    entries = builder.build()
    assert v4(entries) == [("192.0.2.10", "192.0.2.20"), ("198.51.100.1", "198.51.100.9")]
    assert v6(entries) == [("2001:db8::1", "2001:db8::ff")]
    assert entries.threat_of(entries.v6_info[0]) == "Scanning Host"


@pytest.mark.parametrize(
    ("first", "last", "why"),
    [
        ("192.0.2.20", "192.0.2.10", "start above"),
        ("192.0.2.1", "2001:db8::1", "mixes"),
        ("192.0.2.1", "192.0.2.256", "not an IPv4"),
    ],
)
def test_bad_ranges(first: str, last: str, why: str) -> None:
    assert why in reason(ListBuilder().add_range, first, last)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("010.1.1.1", "leading zero"),
        ("192.0.2.01", "leading zero"),
        ("192.0.2", "not an IPv4"),
        ("192.0.2.256", "not an IPv4"),
        ("192.0.2.1 ", "not an IPv4"),
        ("::ffff:192.0.2.1", "IPv4-mapped"),
        ("fe80::1%eth0", "zone id"),
        ("2001:db8::g", "not an IPv6"),
        ("1::2::3", "not an IPv6"),
        ("192.0.2.1\x00", "not an IPv4"),
    ],
)
def test_bad_addresses(text: str, why: str) -> None:
    assert why in reason(ListBuilder().add_ip, text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("192.0.2.0/33", "above /32"),
        ("2001:db8::/129", "above /128"),
        ("192.0.2.0/024", "prefix"),
        ("192.0.2.0/", "prefix"),
        ("192.0.2.0/x", "prefix"),
        ("192.0.2.0/-1", "prefix"),
        ("192.0.2.0/٢٤", "prefix"),  # Arabic-Indic digits pass str.isdigit()
        ("010.0.2.0/24", "leading zero"),
        ("192.0.2.0", "without a prefix"),
    ],
)
def test_bad_cidrs(text: str, why: str) -> None:
    assert why in reason(ListBuilder().add_cidr, text)


# --- domains -------------------------------------------------------------------------------


def test_domains_are_lower_case_without_trailing_dot_in_idna_form() -> None:
    builder = ListBuilder()
    builder.add_domain("Bad.Example.COM.")
    builder.add_domain("bücher.example")
    builder.add_domain("xn--bcher-kva.example")
    builder.add_domain("_dmarc.example.com")
    entries = builder.build()
    assert entries.domains == [
        "bad.example.com",
        "xn--bcher-kva.example",
        "xn--bcher-kva.example",
        "_dmarc.example.com",
    ]
    assert list(entries.domain_info) == [-1, -1, -1, -1]


def test_wildcards_are_stored_without_the_star() -> None:
    entries = built("*.Example.org", "*.corp")
    assert entries.wildcards == ["example.org", "corp"]
    assert entries.domains == []
    assert len(entries) == 2


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("bad..example.com", "empty label"),
        (".example.com", "empty label"),
        ("a" * 64 + ".example.com", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("bad\x07.example.com", "not allowed"),
        ("bad example.com", "not allowed"),
        ("bad.example.com/path", "not allowed"),
        ("ex\u200bample.com\x1b[31m", "unprintable"),
        ("\udcff.example.com", "unprintable"),
        ("localhost", "single-label"),
        ("198.51.100.x", "top-level"),
        ("1.2.3.4.5", "top-level"),
        ("", "empty"),
        ("*.example.com", "wildcard"),
        ("ü" * 70 + ".example", "IDNA"),
    ],
)
def test_bad_domains(text: str, why: str) -> None:
    assert why in reason(ListBuilder().add_domain, text)


def test_bad_wildcards() -> None:
    assert "empty" in reason(ListBuilder().add_wildcard, "*.")
    assert "not allowed" in reason(ListBuilder().add_wildcard, "*.*.example.com")


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("192.0.2.1", "v4"),
        ("192.0.2.0/24", "v4"),
        ("192.0.2.1-192.0.2.9", "v4"),
        ("2001:db8::1", "v6"),
        ("2001:db8::/32", "v6"),
        ("2001:db8::1-2001:db8::9", "v6"),
        ("example.com", "domain"),
        ("ex-ample1.com", "domain"),
        ("*.example.com", "wildcard"),
    ],
)
def test_add_token_classifies(token: str, kind: str) -> None:
    entries = built(token)
    counts = {
        "v4": len(entries.v4_start),
        "v6": len(entries.v6_start_hi),
        "domain": len(entries.domains),
        "wildcard": len(entries.wildcards),
    }
    assert counts == {k: int(k == kind) for k in counts}


# --- threats and bad lines -------------------------------------------------------------------


def test_threat_names_are_interned() -> None:
    builder = ListBuilder()
    builder.add_ip("192.0.2.1", "Malicious Host")
    builder.add_ip("192.0.2.2", "Scanning Host")
    builder.add_domain("bad.example.com", "Malicious Host")
    builder.add_ip("2001:db8::1", "  Malicious\tHost ")
    builder.add_ip("192.0.2.3", "")
    builder.add_ip("192.0.2.4")
    entries = builder.build()
    assert entries.threats == ["Malicious Host", "Scanning Host"]
    assert list(entries.v4_info) == [0, 1, -1, -1]
    assert list(entries.domain_info) == [0]
    assert list(entries.v6_info) == [0]
    assert entries.threat_of(-1) is None


def test_bad_lines_are_truncated_escaped_and_capped() -> None:
    builder = ListBuilder()
    builder.bad(1, "x" * 10_000, "too long")
    builder.bad(2, "evil\x1b[2J\x00text", "control")
    for line in range(3, MAX_BAD_KEPT + 50):
        builder.bad(line, "junk", "junk")
    entries = builder.build()
    assert entries.bad_count == MAX_BAD_KEPT + 49
    assert len(entries.bad) == MAX_BAD_KEPT
    assert len(entries.bad[0].text) <= 201 and entries.bad[0].text.endswith("…")
    assert entries.bad[1].text == "evil\\x1b[2J\\x00text"
    assert entries.bad[1].text.isprintable()
    assert (entries.bad[1].line, entries.bad[1].reason) == (2, "control")
    assert len(entries) == 0


# --- property tests against the ipaddress module ---------------------------------------------

ipv4_ints = st.integers(min_value=0, max_value=(1 << 32) - 1)
ipv6_ints = st.integers(min_value=0, max_value=(1 << 128) - 1).filter(
    lambda n: n >> 32 != 0xFFFF  # IPv4-mapped addresses are rejected on purpose
)


@given(ipv4_ints)
def test_ipv4_round_trip(value: int) -> None:
    text = str(ipaddress.IPv4Address(value))
    entries = built(text)
    assert (entries.v4_start[0], entries.v4_end[0]) == (value, value)


@given(ipv6_ints, st.booleans())
def test_ipv6_round_trip(value: int, exploded: bool) -> None:
    address = ipaddress.IPv6Address(value)
    entries = built(address.exploded if exploded else str(address))
    assert entries.v6_start_hi[0] << 64 | entries.v6_start_lo[0] == value
    assert entries.v6_end_hi[0] << 64 | entries.v6_end_lo[0] == value


@given(ipv4_ints, st.integers(min_value=0, max_value=32))
def test_ipv4_cidr_matches_ipaddress(value: int, prefix: int) -> None:
    text = f"{ipaddress.IPv4Address(value)}/{prefix}"
    network = ipaddress.ip_network(text, strict=False)
    entries = built(text)
    assert entries.v4_start[0] == int(network.network_address)
    assert entries.v4_end[0] == int(network.broadcast_address)


@given(ipv6_ints, st.integers(min_value=0, max_value=128))
def test_ipv6_cidr_matches_ipaddress(value: int, prefix: int) -> None:
    text = f"{ipaddress.IPv6Address(value)}/{prefix}"
    network = ipaddress.ip_network(text, strict=False)
    entries = built(text)
    start = entries.v6_start_hi[0] << 64 | entries.v6_start_lo[0]
    end = entries.v6_end_hi[0] << 64 | entries.v6_end_lo[0]
    assert (start, end) == (int(network.network_address), int(network.broadcast_address))


@given(st.text(alphabet=st.sampled_from("0123456789abcdef.:/-x%*"), max_size=45))
def test_address_like_garbage_agrees_with_ipaddress(text: str) -> None:
    """Whatever add_token takes as an address, ipaddress reads as the same network."""
    builder = ListBuilder()
    try:
        builder.add_token(text)
    except ValueError:
        return
    entries = builder.build()
    if entries.domains or entries.wildcards or "-" in text:
        return
    network = ipaddress.ip_network(text, strict=False)
    if network.version == 4:
        assert (entries.v4_start[0], entries.v4_end[0]) == (
            int(network.network_address),
            int(network.broadcast_address),
        )
    else:
        assert entries.v6_start_hi[0] << 64 | entries.v6_start_lo[0] == int(network.network_address)


@given(st.text(max_size=300))
def test_any_text_is_accepted_or_rejected_with_value_error(text: str) -> None:
    builder = ListBuilder()
    try:
        builder.add_token(text)
    except ValueError as exc:
        assert str(exc)
        assert len(builder) == 0
    else:
        assert len(builder) == 1
        entries = builder.build()
        for name in entries.domains + entries.wildcards:
            assert name.isascii() and name == name.lower() and len(name) <= 253
