"""The enrichment columns on batches of each log type, and trusted rows dropped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pytest

from trailguard.detect.detection import DetectionMeta, EventDetection
from trailguard.detect.engine import Engine
from trailguard.enrich.awsranges import parse_aws_ranges
from trailguard.enrich.enricher import Enricher
from trailguard.enrich.entries import ListEntries
from trailguard.enrich.listformats import parse_list
from trailguard.formats import ReadOptions, read_object
from trailguard.sources.base import SourceObject


def txt(text: str) -> ListEntries:
    return parse_list(text.encode(), "TXT", source="test")


AWS_RANGES = json.dumps(
    {
        "syncToken": "1732000000",
        "createDate": "2026-11-20-10-00-00",
        "prefixes": [
            {
                "ip_prefix": "52.95.110.0/24",
                "region": "us-east-1",
                "service": "AMAZON",
                "network_border_group": "us-east-1",
            },
            {
                "ip_prefix": "52.95.110.0/24",
                "region": "us-east-1",
                "service": "EC2",
                "network_border_group": "us-east-1",
            },
        ],
        "ipv6_prefixes": [
            {
                "ipv6_prefix": "2600:1f18::/33",
                "region": "us-east-1",
                "service": "EC2",
                "network_border_group": "us-east-1",
            }
        ],
    }
).encode()


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(
        threat={
            "custom": [
                ("bad-ips", txt("198.51.100.0/24\n2001:db8:bad::/48\nevil.example.com\n")),
                ("narrow", txt("198.51.100.7\n8.8.4.4\n")),
            ],
            "tor": [("tor", txt("185.220.101.1\n"))],
            "c2": [("c2", txt("*.c2.example.net\n"))],
        },
        trusted=[("office", txt("198.51.100.200\nfriendly.example.com\n"))],
        aws=[("aws", parse_aws_ranges(AWS_RANGES, source="ip-ranges.json"))],
    )


def flows(*pairs: tuple[str | None, str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([s for s, _ in pairs], pa.string()),
            pa.array([d for _, d in pairs], pa.string()),
            pa.array(range(len(pairs)), pa.int64()),
        ],
        names=["srcaddr", "dstaddr", "_pos"],
    )


def test_threat_columns_name_the_narrowest_list_per_category(enricher: Enricher) -> None:
    batch = flows(
        ("10.0.0.1", "198.51.100.7"),
        ("10.0.0.1", "198.51.100.8"),
        ("185.220.101.1", "10.0.0.2"),
        ("10.0.0.1", "2001:db8:bad::1"),
        ("10.0.0.1", "8.8.8.8"),
        (None, "-"),
    )
    out = enricher.enrich("vpcflow", batch).batch.to_pydict()
    assert out["dstaddr__threat_custom"] == ["narrow", "bad-ips", None, "bad-ips", None, None]
    assert out["srcaddr__threat_tor"] == [None, None, "tor", None, None, None]
    assert out["dstaddr__threat_tor"] == [None] * 6
    assert out["srcaddr__threat_mining"] == [None] * 6


def test_trusted_rows_are_dropped_even_when_also_a_threat(enricher: Enricher) -> None:
    batch = flows(
        ("10.0.0.1", "198.51.100.200"), ("198.51.100.200", "10.0.0.1"), ("10.0.0.1", "198.51.100.9")
    )
    result = enricher.enrich("vpcflow", batch)
    assert result.trusted_rows == 2
    assert result.batch.column("_pos").to_pylist() == [2]


def test_geo_and_aws_columns_for_public_addresses_only(enricher: Enricher) -> None:
    batch = flows(
        ("10.0.0.1", "8.8.8.8"), ("10.0.0.1", "52.95.110.1"), ("10.0.0.1", "2600:1f18::1")
    )
    out = enricher.enrich("vpcflow", batch).batch.to_pydict()
    assert out["srcaddr__public"] == [False, False, False]
    assert out["dstaddr__public"] == [True, True, True]
    assert out["srcaddr__country"] == [None, None, None]
    assert out["dstaddr__country"] == ["US", "US", "US"]
    assert out["dstaddr__as_org"][0] == "GOOGLE"
    assert out["dstaddr__aws"] == [False, True, True]
    # the specific service wins over AMAZON for the same range
    assert out["dstaddr__aws_service"] == [None, "EC2", "EC2"]
    assert out["dstaddr__aws_region"] == [None, "us-east-1", "us-east-1"]


def test_without_aws_ranges_amazon_networks_count_as_aws() -> None:
    # 52.95.108.0/23 is announced by AMAZON-02
    out = Enricher().enrich("vpcflow", flows(("10.0.0.1", "52.95.108.1"), ("10.0.0.1", "8.8.8.8")))
    cols = out.batch.to_pydict()
    assert cols["dstaddr__aws"] == [True, False]
    assert cols["dstaddr__aws_service"] == [None, None]


def test_dns_domains_and_answers(enricher: Enricher) -> None:
    answers = pa.array(
        [
            [{"Rdata": "192.0.2.1", "Type": "A", "Class": "IN"}],
            [
                {"Rdata": "cname.example.", "Type": "CNAME", "Class": "IN"},
                {"Rdata": "198.51.100.7", "Type": "A", "Class": "IN"},
            ],
            [],
            None,
        ],
        pa.list_(
            pa.struct([("Rdata", pa.string()), ("Type", pa.string()), ("Class", pa.string())])
        ),
    )
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(["EVIL.example.com.", "x.y.c2.example.net.", "friendly.example.com.", None]),
            pa.array(["10.0.0.5"] * 4),
            answers,
            pa.array(range(4), pa.int64()),
        ],
        names=["query_name", "srcaddr", "answers", "_pos"],
    )
    result = enricher.enrich("dns", batch)
    out = result.batch.to_pydict()
    assert result.trusted_rows == 1  # the trusted domain
    assert out["query_name__threat_custom"] == ["bad-ips", None, None]
    assert out["query_name__threat_c2"] == [None, "c2", None]
    assert out["answers__threat_custom"] == [None, "narrow", None]


def test_cloudtrail_hostnames_in_sourceipaddress_are_not_addresses(enricher: Enricher) -> None:
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(["ec2.amazonaws.com", "AWS Internal", "1.1.1.1", "198.51.100.7"]),
            pa.array([0, 1, 2, 3]),
        ],
        names=["sourceIPAddress", "_pos"],
    )
    out = enricher.enrich("cloudtrail", batch).batch.to_pydict()
    # 198.51.100.0/24 is a documentation range: not public, but lists still match it
    assert out["sourceIPAddress__public"] == [False, False, True, False]
    assert out["sourceIPAddress__threat_custom"] == [None, None, None, "narrow"]


def test_enriched_batches_run_through_the_engine_and_rules_can_use_the_columns(
    enricher: Enricher, tmp_path: Path
) -> None:
    """A rule over the enrichment columns, on real flow-log text, through DuckDB."""
    text = (
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
        b"bytes start end action log-status\n"
        b"2 111122223333 eni-1 10.0.0.1 8.8.4.4 40000 443 6 10 840 1793700000 1793700060 "
        b"ACCEPT OK\n"
        b"2 111122223333 eni-1 10.0.0.1 8.8.8.8 40001 443 6 10 840 1793700000 1793700060 "
        b"ACCEPT OK\n"
    )
    obj = SourceObject("flows.log", "1", len(text), lambda: io.BytesIO(text))
    reading = read_object(obj, ReadOptions())
    rule = EventDetection(
        meta=DetectionMeta(
            id="to_us",
            finding_type="Policy:EC2/TrafficToUS.Custom",
            severity=2.0,
            title="{instance} talked to {remote_ip} in {dstaddr__country}",
            description="on list {threat_list}",
            log_type="vpcflow",
            resource_type="Instance",
        ),
        where='"dstaddr__country" = \'US\' AND "dstaddr__threat_custom" IS NOT NULL',
    )
    engine = Engine([rule])
    hits = []
    for batch in reading.batches():
        hits += engine.run("vpcflow", enricher.enrich("vpcflow", batch).batch, obj.name)
    assert not engine.errors
    (hit,) = hits
    assert hit.title == "eni-1 talked to 8.8.4.4 in US"
    assert hit.threat_intelligence == [{"threatListName": "narrow", "threatNames": []}]
    remote = hit.action["networkConnectionAction"]["remoteIpDetails"]
    assert remote["ipAddressV4"] == "8.8.4.4"
    assert remote["organization"]["asnOrg"] == "GOOGLE"
    assert remote["country"]["countryCode"] == "US"


def test_batches_enriched_together_as_each_alone(enricher: Enricher) -> None:
    pairs = [
        ("10.0.0.1", "198.51.100.7"),
        ("198.51.100.200", "10.0.0.1"),  # trusted: dropped
        ("10.0.0.1", "8.8.8.8"),
        ("185.220.101.1", "10.0.0.2"),
        ("10.0.0.1", "52.95.110.1"),
        (None, "-"),
        ("10.0.0.1", "2600:1f18::1"),
    ]
    batches = [flows(*pairs[:3]), flows(*pairs[3:4]), flows(*pairs[4:])]
    together = enricher.enrich_batches("vpcflow", batches)
    alone = [enricher.enrich("vpcflow", b) for b in batches]
    assert [r.trusted_rows for r in together] == [r.trusted_rows for r in alone] == [1, 0, 0]
    for t, a in zip(together, alone, strict=True):
        assert t.batch.schema.names == a.batch.schema.names
        assert t.batch.to_pydict() == a.batch.to_pydict()


def test_domain_lists_apply_to_host_names_in_cloudtrail_source(enricher: Enricher) -> None:
    """CloudTrail's sourceIPAddress holds a host name for calls AWS services make."""
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(["evil.example.com", "friendly.example.com", "198.51.100.7", "x"]),
            pa.array([0, 1, 2, 3]),
        ],
        names=["sourceIPAddress", "_pos"],
    )
    result = enricher.enrich("cloudtrail", batch)
    out = result.batch.to_pydict()
    assert result.trusted_rows == 1  # friendly.example.com is on the trusted list
    assert out["_pos"] == [0, 2, 3]
    assert out["sourceIPAddress__threat_custom"] == ["bad-ips", "narrow", None]


def test_address_columns_looked_up_together_as_each_alone(enricher: Enricher) -> None:
    """A flow's sources and destinations are looked up together (one set of distinct
    addresses); each column's values are those it gets looked up on its own."""
    pairs = [
        ("10.0.0.1", "198.51.100.7"),
        ("198.51.100.200", "10.0.0.1"),
        ("8.8.4.4", "185.220.101.1"),
        ("10.0.0.1", "52.95.110.1"),
        (None, "-"),
        ("2600:1f18::1", "2001:db8:bad::9"),
    ]
    batch = flows(*pairs)
    together, trusted = enricher._addresses(
        [("srcaddr", batch.column("srcaddr")), ("dstaddr", batch.column("dstaddr"))]
    )
    for name in ("srcaddr", "dstaddr"):
        alone, alone_trusted = enricher._addresses([(name, batch.column(name))])
        mine = {k: v for k, v in together.items() if k.startswith(name + "__")}
        assert list(mine) == list(alone)
        assert {k: v.to_pylist() for k, v in mine.items()} == {
            k: v.to_pylist() for k, v in alone.items()
        }
        assert trusted[name] is not None and alone_trusted[name] is not None
        assert trusted[name].tolist() == alone_trusted[name].tolist()
    assert together["dstaddr__threat_custom"].to_pylist()[0] == "narrow"
    assert together["srcaddr__trusted"].to_pylist()[1] == "office"
