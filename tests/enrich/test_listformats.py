"""parse_list and sniff_format on realistic samples of every list format, and hostile input."""

from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path

import pytest

from trailguard.enrich.entries import ListEntries
from trailguard.enrich.listformats import ET_CATEGORIES, FORMATS, parse_list, sniff_format
from trailguard.errors import IntelError, TrailguardError

SAMPLES = Path(__file__).parent / "samples"


def load(name: str, fmt: str, column: str | None = None) -> ListEntries:
    return parse_list((SAMPLES / name).read_bytes(), fmt, source=name, csv_column=column)


def parse(text: str | bytes, fmt: str, column: str | None = None) -> ListEntries:
    data = text.encode() if isinstance(text, str) else text
    return parse_list(data, fmt, source="test-list", csv_column=column)


def addresses(entries: ListEntries) -> list[tuple[str, str | None]]:
    """Entries as ``("a", threat)`` / ``("a-b", threat)`` / ``("cidr", threat)`` strings."""
    out: list[tuple[str, str | None]] = []
    rows: list[tuple[int, int, int, int]] = [
        (4, a, b, i)
        for a, b, i in zip(entries.v4_start, entries.v4_end, entries.v4_info, strict=True)
    ]
    rows += [
        (6, sh << 64 | sl, eh << 64 | el, i)
        for sh, sl, eh, el, i in zip(
            entries.v6_start_hi,
            entries.v6_start_lo,
            entries.v6_end_hi,
            entries.v6_end_lo,
            entries.v6_info,
            strict=True,
        )
    ]
    for version, start, end, info in rows:
        first: ipaddress.IPv4Address | ipaddress.IPv6Address
        first = ipaddress.IPv6Address(start) if version == 6 else ipaddress.IPv4Address(start)
        last = type(first)(end)
        nets = list(ipaddress.summarize_address_range(first, last))
        if start == end:
            text = str(first)
        elif len(nets) == 1:
            text = str(nets[0])
        else:
            text = f"{first}-{last}"
        out.append((text, entries.threat_of(info)))
    return out


def domains(entries: ListEntries) -> list[tuple[str, str | None]]:
    return [
        (d, entries.threat_of(i)) for d, i in zip(entries.domains, entries.domain_info, strict=True)
    ] + [
        (f"*.{w}", entries.threat_of(i))
        for w, i in zip(entries.wildcards, entries.wildcard_info, strict=True)
    ]


def bad(entries: ListEntries) -> list[tuple[int, str]]:
    return [(b.line, b.reason) for b in entries.bad]


# --- the samples, one per format ------------------------------------------------------------


def test_txt_sample() -> None:
    entries = load("threats.txt", "TXT")
    assert addresses(entries) == [
        ("192.0.2.1", None),
        ("192.0.2.0/24", None),
        ("198.51.100.7", None),
        ("203.0.113.0/25", None),
        ("2001:db8:bad::/48", None),
        ("2001:db8::dead:beef", None),
    ]
    assert domains(entries) == [
        ("example.com", None),
        ("xn--bcher-kva.example", None),
        ("*.example.org", None),
    ]
    assert bad(entries) == [
        (13, "IPv4 octet with a leading zero"),
        (14, "not an IPv4 address"),
        (15, "more than one entry on the line"),
    ]
    assert entries.bad[2].text == "not a valid line"
    assert (entries.lines, entries.bad_count, len(entries)) == (15, 3, 9)


def test_stix1_sample() -> None:
    entries = load("stix1_package.xml", "STIX")
    assert addresses(entries) == [
        ("192.0.2.0/24", None),
        ("198.51.100.1", None),
        ("203.0.113.5", "Scanning Host"),
        ("203.0.113.6", "Scanning Host"),
        ("203.0.113.0/28", "Scanning Host"),
    ]
    assert domains(entries) == [
        ("c2.example.com", "Malicious Host"),
        ("update.example.net", "Malicious Host"),
    ]
    # the e-mail Address_Value is skipped; the reversed IPv6 range is the 6th value element
    assert entries.skipped == 1
    assert bad(entries) == [(6, "range start above its end")]
    assert entries.bad[0].text.startswith("trailguard:Address-9c6a1f9e")
    assert entries.lines == 6


def test_stix1_guardduty_documentation_example_with_its_typo() -> None:
    # GuardDuty's own example lacks the space before condition=; it is repaired, not refused
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<stix:STIX_Package xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:stix="http://stix.mitre.org/stix-1" xmlns:cybox="http://cybox.mitre.org/cybox-2"
    xmlns:AddressObject="http://cybox.mitre.org/objects#AddressObject-2" version="1.2">
    <stix:Observables cybox_major_version="1" cybox_minor_version="1">
        <cybox:Observable id="example:observable-80b26f43-dc41-43ff-861d-19aff31e0236">
            <cybox:Object id="example:object-161a5438-1c26-4275-ba44-a35ba963c245">
                <cybox:Properties xsi:type="AddressObject:AddressObjectType" category="ipv4-addr">
                    <AddressObject:Address_Valuecondition="InclusiveBetween">192.0.2.0##comma##192.0.2.255</AddressObject:Address_Value>
                </cybox:Properties>
            </cybox:Object>
        </cybox:Observable>
    </stix:Observables>
</stix:STIX_Package>"""
    assert addresses(parse(xml, "STIX")) == [("192.0.2.0/24", None)]


STIX1_HEAD = (
    '<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" '
    'xmlns:cybox="http://cybox.mitre.org/cybox-2" '
    'xmlns:A="http://cybox.mitre.org/objects#AddressObject-2" '
    'xmlns:H="http://cybox.mitre.org/objects#HostnameObject-1">'
    "<stix:Observables><cybox:Observable><cybox:Object>"
    '<cybox:Properties category="{category}">{values}</cybox:Properties>'
    "</cybox:Object></cybox:Observable></stix:Observables></stix:STIX_Package>"
)


@pytest.mark.parametrize(
    ("values", "expected", "why"),
    [
        ('<A:Address_Value condition="InclusiveBetween">192.0.2.2, 192.0.2.4</A:Address_Value>',
         [("192.0.2.2-192.0.2.4", None)], None),
        ('<A:Address_Value condition="InclusiveBetween">2001:db8::##comma##2001:db8::ff'
         "</A:Address_Value>", [("2001:db8::/120", None)], None),
        ("<A:Address_Value>192.0.2.7/32</A:Address_Value>", [("192.0.2.7", None)], None),
        ('<A:Address_Value condition="InclusiveBetween">192.0.2.1</A:Address_Value>',
         [], "exactly two"),
        ('<A:Address_Value condition="StartsWith">192.0.2.</A:Address_Value>',
         [], "condition 'StartsWith'"),
        ('<A:Address_Value apply_condition="ALL">192.0.2.1##comma##192.0.2.2</A:Address_Value>',
         [], "apply_condition 'ALL'"),
        ("<A:Address_Value>   </A:Address_Value>", [], "empty value"),
    ],
)  # fmt: skip
def test_stix1_address_values(values: str, expected: list[object], why: str | None) -> None:
    xml = STIX1_HEAD.format(category="ipv4-addr", values=values)
    if why is None:
        assert addresses(parse(xml, "STIX")) == expected
    else:
        with pytest.raises(IntelError, match=why):
            parse(xml, "STIX")  # the only value is bad: no entry at all


def test_stix1_hostname_objects_are_domains() -> None:
    xml = STIX1_HEAD.format(
        category="", values="<H:Hostname_Value>Beacon.Example.com</H:Hostname_Value>"
    )
    assert domains(parse(xml, "STIX")) == [("beacon.example.com", None)]


def test_stix2_sample() -> None:
    entries = load("stix2_bundle.json", "STIX2")
    assert addresses(entries) == [
        ("198.51.100.1", "Tor exit node"),
        # its name is only the value again, so indicator_types name the threat
        ("203.0.113.0/24", "malicious-activity, compromised"),
        ("2001:db8::1", "malicious-activity, compromised"),
        ("2001:db8::2", "malicious-activity, compromised"),
        ("2001:db8::3", "malicious-activity, compromised"),
    ]
    assert domains(entries) == [
        ("pool.example-mining.com", "Cryptomining pool"),
        ("*.example-mining.net", "Cryptomining pool"),
    ]
    assert bad(entries) == [(6, "AND, FOLLOWEDBY or a qualifier cannot be matched per address")]
    assert entries.skipped == 2  # the file-hash indicator and the snort-pattern indicator
    assert entries.lines == 9
    # "STIX" (GuardDuty's name) reads STIX 2 bundles too
    assert addresses(load("stix2_bundle.json", "STIX")) == addresses(entries)


def indicator(pattern: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--00000000-0000-4000-8000-000000000001",
        "pattern": pattern,
        "pattern_type": "stix",
        **extra,
    }


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '192.0.2.1']", ["192.0.2.1"]),
        ("[ ipv4-addr:value='192.0.2.1' ]", ["192.0.2.1"]),
        ("[ipv4-addr:value = '192.0.2.0/24']", ["192.0.2.0/24"]),
        ("[ipv6-addr:value ISSUBSET '2001:db8::/32']", ["2001:db8::/32"]),
        ("[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]", ["192.0.2.1", "192.0.2.2"]),
        ("([ipv4-addr:value = '192.0.2.1'] OR [ipv4-addr:value = '192.0.2.2'])",
         ["192.0.2.1", "192.0.2.2"]),
        ("[ipv4-addr:value = '192.0.2.1' OR url:value = 'http://x.example/']", ["192.0.2.1"]),
        ("[domain-name:value = 'Evil.Example.com']", ["evil.example.com"]),
        ("[domain-name:value LIKE '%.evil.example']", ["*.evil.example"]),
    ],
)  # fmt: skip
def test_stix2_usable_patterns(pattern: str, expected: list[str]) -> None:
    import json

    entries = parse(json.dumps({"type": "bundle", "objects": [indicator(pattern)]}), "STIX2")
    got = [a for a, _ in addresses(entries)] + [d for d, _ in domains(entries)]
    assert got == expected
    assert entries.bad_count == 0


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'x.example']", "AND"),
        ("[ipv4-addr:value = '192.0.2.1'] WITHIN 300 SECONDS", "qualifier"),
        ("[ipv4-addr:value = '192.0.2.1'] REPEATS 5 TIMES", "qualifier"),
        ("[ipv4-addr:value != '192.0.2.1']", "negated"),
        ("[ipv4-addr:value > '192.0.2.1']", "cannot be matched"),
        ("[domain-name:value LIKE 'evil%']", "LIKE"),
        ("[domain-name:value MATCHES '^evil']", "MATCHES"),
        ("[ipv4-addr:resolves_to_refs[*].value = '02:00:00:00:00:01']", "ipv4-addr:value"),
        ("[ipv4-addr:value = ", "invalid STIX pattern"),
        ("[ipv4-addr:value = '192.0.2.300']", "not an IPv4"),
    ],
)
def test_stix2_unusable_patterns_are_bad_entries(pattern: str, why: str) -> None:
    import json

    objects = [indicator(pattern), indicator("[ipv4-addr:value = '198.51.100.1']")]
    entries = parse(json.dumps({"type": "bundle", "objects": objects}), "STIX2")
    assert addresses(entries) == [("198.51.100.1", None)]
    assert entries.bad_count == 1 and entries.bad[0].line == 1
    assert why in entries.bad[0].reason


def test_stix2_skips_what_is_not_ours() -> None:
    import json

    objects: list[object] = [
        indicator("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"),
        indicator("[ipv4-addr:value = '192.0.2.1']", revoked=True),
        indicator("alert ip any any -> 192.0.2.1 any", pattern_type="snort"),
        {"type": "malware", "id": "malware--1", "name": "x"},
        indicator("[ipv4-addr:value = '192.0.2.9']", labels=["malicious-activity"]),
        "not an object",
    ]
    entries = parse(json.dumps(objects), "STIX2")
    assert addresses(entries) == [("192.0.2.9", "malicious-activity")]
    assert entries.skipped == 3
    assert bad(entries) == [(6, "not a STIX object")]


def test_otx_sample() -> None:
    entries = load("otx_pulse.csv", "OTX_CSV")
    assert addresses(entries) == [
        ("192.0.2.0/24", None),
        ("198.51.100.1", "C2 server"),
        ("203.0.113.1", None),
        ("2001:db8::bad", None),
    ]
    assert domains(entries) == [
        ("evil.example.net", None),
        ("login.evil.example.net", "phishing kit host"),
    ]
    assert entries.skipped == 2  # URL and FileHash-SHA256
    assert bad(entries) == [(10, "not an IPv4 address")]


def test_otx_guardduty_documentation_example() -> None:
    text = (
        "Indicator type, Indicator, Description\nCIDR, 192.0.2.0/24, example\n"
        "IPv4, 198.51.100.1, example\nIPv4, 203.0.113.1, example\n"
        "Domain name, example.net, example\n"
    )
    entries = parse(text, "OTX_CSV")
    assert [a for a, _ in addresses(entries)] == ["192.0.2.0/24", "198.51.100.1", "203.0.113.1"]
    assert domains(entries) == [("example.net", "example")]


def test_fire_eye_sample() -> None:
    entries = load("fireeye_isight.csv", "FIRE_EYE")
    assert addresses(entries) == [
        ("192.0.2.0/24", "Ursnif"),
        ("198.51.100.1", "Ursnif"),
        ("203.0.113.0/24", "APT00"),  # no malwareFamily: the actor names the threat
        ("203.0.113.9", "APT00"),
    ]
    assert domains(entries) == [("bad.example.com", "APT00")]
    assert entries.skipped == 1  # the hash-only row
    assert bad(entries) == [(9, "198.51.100.999: not an IPv4 address")]


def test_fire_eye_header_has_47_columns() -> None:
    header = (SAMPLES / "fireeye_isight.csv").read_text().split("\n")[0]
    assert len(header.split(",")) == 47


def test_proof_point_sample() -> None:
    entries = load("proofpoint_et.csv", "PROOF_POINT")
    assert addresses(entries) == [
        ("198.51.100.1", "CnC"),
        ("203.0.113.1", "TorNode"),
        ("203.0.113.2", "Bitcoin_Related"),
        ("2001:db8::10", "Scanner"),
    ]
    assert bad(entries) == [(6, "not a domain name (bad top-level label)")]
    assert ET_CATEGORIES["10"] == "TorNode"


def test_proof_point_entity_list_with_domain_header() -> None:
    entries = load("proofpoint_et_domains.csv", "PROOF_POINT")
    assert domains(entries) == [("pool.example-mining.com", "Bitcoin_Related")]
    assert addresses(entries) == [("198.51.100.1", "CnC"), ("203.0.113.1", "CnC")]


def test_proof_point_without_header() -> None:
    entries = parse("198.51.100.1, 16, 90, 2020-01-01, 2024-01-01,\n", "PROOF_POINT")
    assert addresses(entries) == [("198.51.100.1", "Proxy")]


def test_alien_vault_sample() -> None:
    entries = load("alienvault_reputation.data", "ALIEN_VAULT")
    assert addresses(entries) == [
        ("198.51.100.1", "Malicious Host"),
        ("192.0.2.2", "Scanning Host"),
        ("192.0.2.3", None),
        ("203.0.113.77", "Malicious Host, Scanning Host"),
    ]
    assert domains(entries) == [("www.test.org", "Malicious Host")]
    assert [line for line, _ in bad(entries)] == [6, 7]
    assert "AlienVault" in entries.bad[1].reason


def test_firehol_sample() -> None:
    entries = load("firehol_level1.netset", "FIREHOL")
    assert addresses(entries) == [
        ("0.0.0.0/8", "firehol_level1"),
        ("1.10.16.0/20", "firehol_level1"),
        ("192.0.2.0/24", "firehol_level1"),
        ("198.51.100.7", "firehol_level1"),
        ("203.0.113.0/26", "firehol_level1"),
        ("224.0.0.0/3", "firehol_level1"),
    ]
    assert entries.lines == 40 and entries.bad_count == 0


def test_firehol_rejects_domains_and_reads_ranges() -> None:
    entries = parse("# x\n192.0.2.1-192.0.2.3\nexample.com\n", "FIREHOL")
    assert addresses(entries) == [("192.0.2.1-192.0.2.3", None)]
    assert bad(entries) == [(3, "not an IPv4 address")]


def test_hosts_sample() -> None:
    entries = load("hosts.txt", "HOSTS")
    assert addresses(entries) == []  # the sink address is not an entry
    assert domains(entries) == [
        ("ads.example.com", None),
        ("tracker.example.net", None),
        ("c2.example.org", None),
        ("c2-backup.example.org", None),
        ("xn--bcher-kva.example", None),
    ]
    assert bad(entries) == [
        (18, "bad..example.com: empty label in domain name"),
        (19, "hosts line does not start with an address"),
    ]


def test_adblock_sample() -> None:
    entries = load("adblock.txt", "ADBLOCK")
    # ||domain^ blocks the domain and every subdomain
    assert domains(entries) == [
        ("ads.example.com", None),
        ("tracker.example.net", None),
        ("metrics.example.io", None),
        ("*.ads.example.com", None),
        ("*.tracker.example.net", None),
        ("*.metrics.example.io", None),
    ]
    # path rule, exception, cosmetic, regex and $client= rules
    assert entries.skipped == 5
    assert bad(entries) == [
        (13, "empty label in domain name"),
        (14, "not an adblock rule (expected ||domain^)"),
    ]


def test_csv_with_commented_header() -> None:
    entries = load("feodo_ipblocklist.csv", "CSV", "dst_ip")
    assert addresses(entries) == [
        ("198.51.100.23", None),
        ("203.0.113.44", None),
        ("2001:db8::44", None),
    ]
    assert bad(entries) == [(12, "empty value")]


def test_csv_named_and_default_column() -> None:
    named = load("simple_with_header.csv", "CSV", "Indicator")
    first = load("simple_with_header.csv", "CSV")
    assert addresses(named) == addresses(first) == [("192.0.2.55", None)]
    assert domains(named) == [("bad.example.com", None)]


def test_csv_missing_column_names_the_columns() -> None:
    with pytest.raises(IntelError, match=r"simple_with_header.csv: no CSV column 'ip'.*source"):
        load("simple_with_header.csv", "CSV", "ip")


def test_csv_oversized_field_is_a_bad_line() -> None:
    text = "ip,note\n192.0.2.1,ok\n192.0.2.2," + "x" * 200_000 + "\n192.0.2.3,ok\n"
    entries = parse(text, "CSV", "ip")
    assert addresses(entries) == [("192.0.2.1", None), ("192.0.2.3", None)]
    assert entries.bad_count == 1 and "CSV" in entries.bad[0].reason


# --- whole files that cannot be used ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"\xff\xfe1\x009\x002\x00", "TXT", "not UTF-8"),
        (gzip.compress(b"192.0.2.1\n"), "TXT", "gzip"),
        (b"192.0.2.1\x00\x00\x00", "TXT", "binary"),
        (b"<html><body>403 Forbidden</body></html>", "STIX", "not a STIX 1.x package"),
        (b"<stix:STIX_Package xmlns:stix='http://stix.mitre.org/stix-1'>", "STIX", "well-formed"),
        (b'{"type": "report"}', "STIX2", "not a STIX 2 bundle"),
        (b"{not json", "STIX2", "not a JSON"),
        (b"192.0.2.1, 1, 100, 2000-01-01, 2000-01-01, 80\n", "TXT", "is it really TXT"),
        (b"192.0.2.1\n", "OTX_CSV", "not an OTX CSV"),
        (b"ip,domain\n192.0.2.1,\n", "FIRE_EYE", "not a FireEye"),
        (b"example.com\n", "ADBLOCK", "is it really ADBLOCK"),
        (b"192.0.2.1\n", "YAML", "unknown list format"),
    ],
)
def test_unusable_files_raise_intel_error_naming_the_source(
    data: bytes, fmt: str, message: str
) -> None:
    with pytest.raises(IntelError, match=message) as info:
        parse_list(data, fmt, source="s3://bucket/lists/threats")
    assert str(info.value).startswith("s3://bucket/lists/threats: ")
    assert isinstance(info.value, TrailguardError)


XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1">&lol3;</stix:STIX_Package>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE stix:STIX_Package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1">&xxe;</stix:STIX_Package>"""

DTD = b"""<?xml version="1.0"?>
<!DOCTYPE stix:STIX_Package SYSTEM "http://attacker.example/stix.dtd">
<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"/>"""


@pytest.mark.parametrize("data", [XML_BOMB, XXE, DTD], ids=["bomb", "xxe", "dtd"])
def test_hostile_xml_is_refused(data: bytes) -> None:
    with pytest.raises(IntelError, match="refused XML"):
        parse_list(data, "STIX", source="evil.xml")


def test_comment_only_list_is_empty_not_an_error() -> None:
    entries = parse("# nothing listed today\n\n", "TXT")
    assert len(entries) == 0 and entries.bad_count == 0


# --- hostile lines ---------------------------------------------------------------------------


def test_hostile_lines_are_bad_lines_not_crashes() -> None:
    text = "\n".join(
        [
            "192.0.2.1",
            "a" * 5_000_000,
            "\x1b[2J\x1b]0;pwned\x07",
            "192.0.2.2\x00",
            "bad\u202eexample.com",
            "\ufeff192.0.2.3",
            "192.0.2.4\r",
        ]
    )
    entries = parse("\ufeff" + text, "TXT")
    assert addresses(entries) == [("192.0.2.1", None), ("192.0.2.4", None)]
    assert [b.line for b in entries.bad] == [2, 3, 4, 5, 6]
    for line in entries.bad:
        assert line.text.isprintable() and len(line.text) <= 201


def test_many_bad_lines_are_counted_beyond_those_kept() -> None:
    entries = parse("192.0.2.1\n" + "junk line\n" * 5000, "TXT")
    assert entries.bad_count == 5000 and len(entries.bad) == 1000
    assert entries.bad[-1].line == 1001


# --- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("threats.txt", "TXT"),
        ("stix1_package.xml", "STIX"),
        ("stix2_bundle.json", "STIX2"),
        ("otx_pulse.csv", "OTX_CSV"),
        ("fireeye_isight.csv", "FIRE_EYE"),
        ("proofpoint_et.csv", "PROOF_POINT"),
        ("proofpoint_et_domains.csv", "PROOF_POINT"),
        ("alienvault_reputation.data", "ALIEN_VAULT"),
        ("firehol_level1.netset", "FIREHOL"),
        ("hosts.txt", "HOSTS"),
        ("adblock.txt", "ADBLOCK"),
        ("feodo_ipblocklist.csv", "CSV"),
    ],
)
def test_sniff_format_on_samples(name: str, fmt: str) -> None:
    assert fmt in FORMATS
    assert sniff_format((SAMPLES / name).read_bytes(), name) == fmt


def test_sniff_format_gives_up_on_unknown_content() -> None:
    assert sniff_format(b"<html><body>hello</body></html>", "index.html") is None
    assert sniff_format(b"\x00\x01\x02 binary", "blob.bin") is None
    assert sniff_format(b"", "empty") is None
    assert sniff_format(b"0.0.0.0 ads.example.com\n", "blocklist") == "HOSTS"
    assert sniff_format(b"# ipv4 hash:ip ipset\n192.0.2.1\n", "tor") == "FIREHOL"
