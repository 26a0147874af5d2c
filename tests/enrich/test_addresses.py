"""Address parsing, range lookups and ``is_public``, against brute force with ``ipaddress``."""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailguard.enrich.addresses import AddressIndex, ParsedAddresses, is_public, parse_addresses

MASK64 = (1 << 64) - 1
TOP4 = (1 << 32) - 1
TOP6 = (1 << 128) - 1
NAT64 = ipaddress.ip_network("64:ff9b::/96")

# ------------------------------------------------------------------ references


def ref_parse(text: str | None) -> tuple[int, int]:
    """(family, value) as the ipaddress module reads it; a %zone is not an address."""
    if text is None or "%" in text:
        return 0, 0
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return 0, 0
    return addr.version, int(addr)


Range = tuple[int, int, int, int]  # (version, start, end, info)


def ref_lookup_one(ranges: Sequence[Range], version: int, value: int) -> int:
    best: tuple[int, int] | None = None
    for v, start, end, info in ranges:
        if v == version and start <= value <= end:
            key = (end - start, info)
            best = key if best is None or key < best else best
    return -1 if best is None else best[1]


def ref_lookup(ranges: Sequence[Range], version: int, value: int) -> int:
    """Narrowest range wins, then lowest payload; IPv4-mapped: its IPv4 first, then IPv6."""
    if version == 0:
        return -1
    if version == 6 and value >> 32 == 0xFFFF:
        found = ref_lookup_one(ranges, 4, value & TOP4)
        if found >= 0:
            return found
    return ref_lookup_one(ranges, version, value)


def build(ranges: Sequence[Range]) -> AddressIndex:
    v4 = [r for r in ranges if r[0] == 4]
    v6 = [r for r in ranges if r[0] == 6]
    return AddressIndex.build(
        np.array([r[1] for r in v4], np.uint64),
        np.array([r[2] for r in v4], np.uint64),
        np.array([r[3] for r in v4], np.int32),
        np.array([r[1] >> 64 for r in v6], np.uint64),
        np.array([r[1] & MASK64 for r in v6], np.uint64),
        np.array([r[2] >> 64 for r in v6], np.uint64),
        np.array([r[2] & MASK64 for r in v6], np.uint64),
        np.array([r[3] for r in v6], np.int32),
    )


def text_of(version: int, value: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def parsed_values(parsed: ParsedAddresses) -> list[tuple[int, int]]:
    out = []
    for fam, hi, lo in zip(parsed.family, parsed.hi, parsed.lo, strict=True):
        out.append((int(fam), (int(hi) << 64) | int(lo)))
    return out


# ------------------------------------------------------------------ strategies

v4_int = st.one_of(
    st.integers(0, TOP4), st.sampled_from([0, 1, TOP4 - 1, TOP4, 0x7F000001, 0x0A000000])
)
v6_int = st.one_of(
    st.integers(0, TOP6),
    st.sampled_from([0, 1, TOP6 - 1, TOP6, 0xFFFF << 32, (0xFFFF << 32) | TOP4, 1 << 64]),
    st.integers(0, TOP4).map(lambda v: (0xFFFF << 32) | v),  # IPv4-mapped
    st.integers(0, MASK64).map(lambda v: (0x2001_0DB8 << 96) | v),
)


@st.composite
def v6_text(draw: st.DrawFn) -> str:
    value = draw(v6_int)
    addr = ipaddress.IPv6Address(value)
    style = draw(st.sampled_from(["short", "long", "upper", "v4tail"]))
    if style == "long":
        return addr.exploded
    if style == "upper":
        return str(addr).upper()
    if style == "v4tail":
        head = addr.exploded.rsplit(":", 2)[0]
        return f"{head}:{ipaddress.IPv4Address(value & TOP4)}"
    return str(addr)


valid_text = st.one_of(v4_int.map(lambda v: text_of(4, v)), v6_text())
odd_text = st.sampled_from(
    [
        "-",
        "",
        "AWS Internal",
        "ec2.amazonaws.com",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3.00",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.4.",
        ".1.2.3.4",
        "1..2.3",
        "256.0.0.0",
        "1.2.3.256",
        "1.2.3.1000",
        "0x1.2.3.4",
        "1e1.1.1.1",
        "+1.2.3.4",
        "1.2.3.-4",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.4\n",
        "1.2.3.4\x00",
        "١.٢.٣.٤",
        "1.2.3.４",
        "::",
        ":::",
        "1::2::3",
        "fe80::1%eth0",
        "::ffff:1.2.3.04",
        "::ffff:256.1.1.1",
        "1:2:3:4:5:6:7:8:9",
        "12345::",
        "g::1",
        "2001:db8::/32",
        "10.0.0.0/8",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(valid_text)
    pos = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from("0123456789.:abcdefABCDEFx -%/"))
    how = draw(st.sampled_from(["insert", "replace", "delete"]))
    if how == "insert":
        return text[:pos] + char + text[pos:]
    if how == "replace":
        return text[:pos] + char + text[pos + 1 :]
    return text[:pos] + text[pos + 1 :]


any_text = st.one_of(
    valid_text,
    odd_text,
    mutated(),
    st.text(alphabet="0123456789.:abcdefF", max_size=46),
    st.none(),
)


@st.composite
def range_sets(draw: st.DrawFn, version: int) -> list[Range]:
    """Ranges crowded into one window so that they nest and overlap."""
    width = 32 if version == 4 else 128
    top = (1 << width) - 1
    size = draw(st.sampled_from([16, 256, 1 << 16]))
    base = draw(st.one_of(st.sampled_from([0, top - size + 1]), st.integers(0, top - size + 1)))
    ranges: list[Range] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["cidr", "cidr", "range", "single", "wide"]))
        a = base + draw(st.integers(0, size - 1))
        if kind in ("cidr", "wide"):
            low = 0 if kind == "wide" else width - size.bit_length() + 1
            host_bits = width - draw(st.integers(low, width))
            start = a >> host_bits << host_bits
            end = start | ((1 << host_bits) - 1)
        elif kind == "range":
            b = base + draw(st.integers(0, size - 1))
            start, end = min(a, b), max(a, b)
        else:
            start = end = a
        ranges.append((version, start, end, draw(st.integers(0, 6))))
    return ranges


def probes(ranges: Sequence[Range], version: int, extra: Sequence[int]) -> list[int]:
    top = TOP4 if version == 4 else TOP6
    points = {0, top, *extra}
    for v, start, end, _ in ranges:
        if v == version:
            points.update({start - 1, start, end, end + 1})
    return sorted(p for p in points if 0 <= p <= top)


# ------------------------------------------------------------------ parsing


@settings(max_examples=400, deadline=None)
@given(st.lists(any_text, max_size=40))
def test_parse_matches_ipaddress(texts: list[str | None]) -> None:
    parsed = parse_addresses(pa.array(texts, pa.string()))
    assert len(parsed) == len(texts)
    assert parsed_values(parsed) == [ref_parse(t) for t in texts]


@settings(max_examples=100, deadline=None)
@given(st.lists(any_text, max_size=30), st.integers(0, 5), st.integers(0, 5))
def test_parse_column_shapes(texts: list[str | None], cut: int, trim: int) -> None:
    """Chunked, sliced, large_string and dictionary columns parse the same."""
    expected = [ref_parse(t) for t in texts]
    plain = pa.array(texts, pa.string())
    chunked = pa.chunked_array([plain[:cut], plain[cut:]], pa.string())
    assert parsed_values(parse_addresses(chunked)) == expected
    assert parsed_values(parse_addresses(plain.cast(pa.large_string()))) == expected
    assert parsed_values(parse_addresses(plain.dictionary_encode())) == expected
    padded = pa.array(["9.9.9.9"] * trim + texts + ["::9"], pa.string())
    sliced = padded.slice(trim, len(texts))
    assert parsed_values(parse_addresses(sliced)) == expected


def test_parse_examples() -> None:
    texts = ["10.0.0.1", "-", None, "AWS Internal", "::ffff:10.0.0.1", "2600:1f18::1"]
    parsed = parse_addresses(pa.array(texts))
    assert parsed.family.tolist() == [4, 0, 0, 0, 6, 6]
    assert parsed.lo.tolist()[0] == 0x0A000001
    assert parsed.hi.tolist()[5] == 0x2600_1F18_0000_0000
    assert parsed.lo.tolist()[4] == (0xFFFF << 32) | 0x0A000001


def test_parse_empty_and_null_columns() -> None:
    assert len(parse_addresses(pa.array([], pa.string()))) == 0
    parsed = parse_addresses(pa.array([None, None], pa.null()))
    assert parsed.family.tolist() == [0, 0]
    parsed = parse_addresses(pa.chunked_array([], pa.string()))
    assert len(parsed) == 0


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        parse_addresses(pa.array([1, 2]))


# ------------------------------------------------------------------ lookups


@settings(max_examples=300, deadline=None)
@given(range_sets(4), range_sets(6), st.lists(v4_int, max_size=5), st.lists(v6_int, max_size=5))
def test_lookup_matches_brute_force(
    r4: list[Range], r6: list[Range], extra4: list[int], extra6: list[int]
) -> None:
    ranges = r4 + r6
    index = build(ranges)
    queries = [(4, p) for p in probes(ranges, 4, extra4)]
    queries += [(6, p) for p in probes(ranges, 6, extra6)]
    queries += [(6, (0xFFFF << 32) | p) for p in probes(ranges, 4, [])]  # IPv4-mapped
    texts = [text_of(v, p) for v, p in queries] + ["-", None, "bad"]
    expected = [ref_lookup(ranges, v, p) for v, p in queries] + [-1, -1, -1]
    assert index.lookup(parse_addresses(pa.array(texts, pa.string()))).tolist() == expected
    column = index.lookup_column(pa.array(texts, pa.string()))
    assert column.type == pa.int32()
    assert column.to_pylist() == [None if e < 0 else e for e in expected]


def test_lookup_many_overlapping_ranges() -> None:
    """Hundreds of partly overlapping ranges (a deeper segment tree), v4 and v6."""
    rng = np.random.default_rng(7)
    starts = rng.integers(0, 5000, 600)
    ends = starts + rng.integers(0, 400, 600)
    infos = rng.integers(0, 50, 600)
    base6 = 0x2600_1F18 << 96
    ranges: list[Range] = [
        (4, int(s), int(e), int(i)) for s, e, i in zip(starts, ends, infos, strict=True)
    ]
    ranges += [
        (6, base6 + (int(s) << 60), base6 + (int(e) << 60) + (1 << 60) - 1, int(i))
        for s, e, i in zip(starts[:300], ends[:300], infos[:300], strict=True)
    ]
    index = build(ranges)
    qs = rng.integers(0, 5600, 3000)
    expected_starts = np.array([r[1] for r in ranges[:600]])
    expected_ends = np.array([r[2] for r in ranges[:600]])
    cover = (expected_starts[None, :] <= qs[:, None]) & (qs[:, None] <= expected_ends[None, :])
    key = np.where(cover, (expected_ends - expected_starts) * 1000 + infos, np.iinfo(np.int64).max)
    best = key.argmin(axis=1)
    expected4 = np.where(cover.any(axis=1), infos[best], -1)
    got = index.lookup(parse_addresses(pa.array([text_of(4, int(q)) for q in qs])))
    assert got.tolist() == expected4.tolist()
    q6 = [base6 + (int(q) << 60) + int(rng.integers(0, 1 << 60)) for q in qs[:500]]
    got6 = index.lookup(parse_addresses(pa.array([text_of(6, q) for q in q6])))
    assert got6.tolist() == [ref_lookup(ranges, 6, q) for q in q6]


def test_lookup_whole_spaces_and_extremes() -> None:
    ranges: list[Range] = [
        (4, 0, TOP4, 9),
        (4, TOP4, TOP4, 1),
        (4, 0, 0, 2),
        (6, 0, TOP6, 8),
        (6, TOP6, TOP6, 3),
        (6, 0, 0, 4),
        (6, (1 << 64) - 1, 1 << 64, 5),  # straddles the halves
    ]
    index = build(ranges)
    texts = [
        "0.0.0.0",
        "0.0.0.1",
        "255.255.255.255",
        "255.255.255.254",
        "::",
        "::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "::ffff:ffff:ffff:ffff",
        "0:0:0:1::",
        "0:0:0:1::1",
    ]
    got = index.lookup_column(pa.array(texts)).to_pylist()
    assert got == [2, 9, 1, 9, 4, 8, 3, 5, 5, 8]


def test_ties_and_nesting() -> None:
    ranges: list[Range] = [
        (4, 0x0A000000, 0x0AFFFFFF, 7),  # 10.0.0.0/8
        (4, 0x0A000000, 0x0AFFFFFF, 3),  # the same again, lower payload: wins
        (4, 0x0A010000, 0x0A01FFFF, 9),  # 10.1.0.0/16 inside
        (4, 0x0A01FF00, 0x0A0200FF, 1),  # a range across the /16's end, narrower
    ]
    index = build(ranges)
    got = index.lookup_column(
        pa.array(["10.0.0.1", "10.1.0.1", "10.1.255.1", "10.2.0.1", "10.2.1.0", "11.0.0.0"])
    )
    assert got.to_pylist() == [3, 9, 1, 1, 3, None]


def test_empty_index_and_array_inputs() -> None:
    assert AddressIndex.empty().lookup_column(pa.array(["1.2.3.4", "::1", None])).to_pylist() == [
        None,
        None,
        None,
    ]
    index = AddressIndex.build(array("Q", [0x01020300]), array("Q", [0x010203FF]), array("i", [4]))
    assert index.lookup_column(pa.array(["1.2.3.4", "1.2.4.0"])).to_pylist() == [4, None]
    assert index.segments[0] == 3
    assert index.nbytes > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"v4_start": [5], "v4_end": [4], "v4_info": [0]},
        {"v4_start": [0], "v4_end": [1 << 32], "v4_info": [0]},
        {"v4_start": [0, 1], "v4_end": [1], "v4_info": [0]},
        {"v4_start": [0], "v4_end": [1], "v4_info": [-1]},
        {"v4_start": [-1], "v4_end": [1], "v4_info": [0]},
        {
            "v6_start_hi": [1],
            "v6_start_lo": [0],
            "v6_end_hi": [0],
            "v6_end_lo": [5],
            "v6_info": [0],
        },
        {"v6_start_hi": [1], "v6_start_lo": [], "v6_end_hi": [1], "v6_end_lo": [1]},
    ],
)
def test_build_rejects_bad_ranges(kwargs: dict[str, list[int]]) -> None:
    with pytest.raises(ValueError):
        AddressIndex.build(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ public addresses

V4_PUBLIC_EXCEPTIONS = [ipaddress.ip_address("192.0.0.9"), ipaddress.ip_address("192.0.0.10")]
V6_PUBLIC_EXCEPTIONS = [
    ipaddress.ip_network(n)
    for n in (
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:1::3/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
    )
]


def ref_public(text: str | None) -> bool:
    """ipaddress's is_global, plus: multicast is not public, IPv6 is public only in 2000::/3
    (minus 3fff::/20, documentation since RFC 9637), 192.0.0.0/24 is not public but for two
    anycast addresses, a few IETF blocks in 2001::/23 are, and embedded IPv4 decides for
    ::ffff:0:0/96 and 64:ff9b::/96."""
    version, _ = ref_parse(text)
    if not version:
        return False
    addr = ipaddress.ip_address(text)  # type: ignore[arg-type]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif addr in NAT64:
            addr = ipaddress.IPv4Address(int(addr) & TOP4)
    if isinstance(addr, ipaddress.IPv4Address):
        if addr in V4_PUBLIC_EXCEPTIONS:
            return True
        return (
            addr.is_global
            and not addr.is_multicast
            and addr not in ipaddress.ip_network("192.0.0.0/24")
        )
    if any(addr in n for n in V6_PUBLIC_EXCEPTIONS):
        return True
    return (
        addr.is_global
        and addr in ipaddress.ip_network("2000::/3")
        and addr not in ipaddress.ip_network("3fff::/20")
    )


NOTABLE = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.8/29",
    "192.0.0.170/31",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/96",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2000::/3",
    "2001::/23",
    "2001::/32",
    "2001:1::/126",
    "2001:2::/48",
    "2001:3::/32",
    "2001:4:112::/48",
    "2001:10::/28",
    "2001:20::/28",
    "2001:30::/28",
    "2001:db8::/32",
    "2002::/16",
    "3fff::/20",
    "4000::/3",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]


def _edges() -> list[str]:
    out = []
    for cidr in NOTABLE:
        net = ipaddress.ip_network(cidr)
        top = TOP4 if net.version == 4 else TOP6
        for value in (int(net[0]) - 1, int(net[0]), int(net[-1]), int(net[-1]) + 1):
            if 0 <= value <= top:
                out.append(text_of(net.version, value))
    for four in ("8.8.8.8", "10.0.0.1", "100.64.0.1", "192.0.0.9", "192.0.0.171"):
        out += [f"::ffff:{four}", f"64:ff9b::{four}"]
    return out


@st.composite
def in_notable(draw: st.DrawFn) -> str:
    net = ipaddress.ip_network(draw(st.sampled_from(NOTABLE)))
    return text_of(net.version, int(net[0]) + draw(st.integers(0, net.num_addresses - 1)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(in_notable(), valid_text, any_text), max_size=30))
def test_is_public_matches_reference(texts: list[str | None]) -> None:
    got = is_public(parse_addresses(pa.array(texts, pa.string())))
    assert got.tolist() == [ref_public(t) for t in texts]


def test_is_public_edges() -> None:
    texts = _edges()
    got = is_public(parse_addresses(pa.array(texts)))
    assert got.tolist() == [ref_public(t) for t in texts]


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("8.8.8.8", True),
        ("54.239.28.85", True),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("172.32.0.0", True),
        ("100.64.0.1", False),
        ("100.128.0.1", True),
        ("169.254.169.254", False),
        ("192.0.0.9", True),
        ("192.0.2.1", False),
        ("224.0.0.251", False),
        ("255.255.255.255", False),
        ("0.0.0.0", False),
        ("2600:1f18::1", True),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
        ("2001::1", False),
        ("::ffff:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::8.8.8.8", True),
        ("64:ff9b::192.168.0.1", False),
        ("4000::1", False),
        ("-", False),
        ("AWS Internal", False),
        (None, False),
    ],
)
def test_is_public_examples(text: str | None, public: bool) -> None:
    assert is_public(parse_addresses(pa.array([text], pa.string()))).tolist() == [public]
