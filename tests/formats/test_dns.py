"""ResolverQueryReader: Route 53 Resolver query logs (JSON lines) -> DNS.

The records follow the example in AWS's Route 53 documentation ("Resolver query
log example") and the documented variants (queries through a Resolver endpoint,
DNS Firewall matches, NXDOMAIN with no answers).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from trailguard.formats import ObjectReading, read_object
from trailguard.formats.base import ReadContext, ReadOptions
from trailguard.formats.dns import ResolverQueryReader
from trailguard.formats.schema import DNS
from trailguard.sources.base import SourceObject

Query = dict[str, Any]

# AWS's documented example
DOC_EXAMPLE: Query = {
    "srcaddr": "4.5.64.102",
    "vpc_id": "vpc-7example",
    "answers": [{"Rdata": "203.0.113.9", "Type": "PTR", "Class": "IN"}],
    "firewall_rule_group_id": "rslvr-frg-01234567890abcdef",
    "firewall_rule_action": "BLOCK",
    "query_name": "15.3.4.32.in-addr.arpa.",
    "firewall_domain_list_id": "rslvr-fdl-01234567890abcdef",
    "query_class": "IN",
    "srcids": {"instance": "i-0d15cd0d3example"},
    "rcode": "NOERROR",
    "query_type": "PTR",
    "transport": "UDP",
    "version": "1.100000",
    "account_id": "111122223333",
    "srcport": "56067",
    "query_timestamp": "2021-02-04T17:51:55Z",
    "region": "us-east-1",
}


def query(n: int = 0, **fields: Any) -> Query:
    """A query from an instance, answered; ``fields`` override members."""
    q: Query = {
        "version": "1.100000",
        "account_id": "111122223333",
        "region": "us-east-1",
        "vpc_id": "vpc-0123456789abcdef0",
        "query_timestamp": f"2021-02-04T17:51:{n % 60:02d}Z",
        "query_name": f"host{n}.example.com.",
        "query_type": "A",
        "query_class": "IN",
        "rcode": "NOERROR",
        "answers": [
            {"Rdata": "192.0.2.10", "Type": "A", "Class": "IN"},
            {"Rdata": "192.0.2.11", "Type": "A", "Class": "IN"},
        ],
        "srcaddr": "10.0.1.25",
        "srcport": str(40000 + n),
        "transport": "UDP",
        "srcids": {"instance": "i-0123456789abcdef0"},
    }
    q.update(fields)
    return q


def lines(*queries: Query) -> bytes:
    return b"".join(json.dumps(q).encode() + b"\n" for q in queries)


def make_object(data: bytes) -> SourceObject:
    return SourceObject(
        "s3://bucket/AWSLogs/vpcdnsquerylogs/q.log.gz", "v1", len(data), lambda: io.BytesIO(data)
    )


def read(data: bytes, **options: Any) -> tuple[pa.Table, ObjectReading]:
    reading = read_object(make_object(data), ReadOptions(**options))
    batches = list(reading.batches())
    for batch in batches:
        assert batch.schema == DNS
        assert batch.num_rows <= reading.options.batch_rows
    return pa.Table.from_batches(batches, schema=DNS), reading


def split(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def rejects(reading: ObjectReading | ReadContext) -> list[tuple[str, str]]:
    return [(r.position, r.reason) for r in reading.rejects]


def test_documented_example() -> None:
    table, reading = read(lines(DOC_EXAMPLE))
    assert reading.kind == "dns"
    assert not reading.failed and not reading.rejects
    assert table.schema == DNS
    assert table.to_pylist() == [
        {
            "version": "1.100000",
            "account_id": "111122223333",
            "region": "us-east-1",
            "vpc_id": "vpc-7example",
            "query_timestamp": datetime(2021, 2, 4, 17, 51, 55, tzinfo=UTC),
            "query_name": "15.3.4.32.in-addr.arpa.",
            "query_type": "PTR",
            "query_class": "IN",
            "rcode": "NOERROR",
            "answers": [{"Rdata": "203.0.113.9", "Type": "PTR", "Class": "IN"}],
            "srcaddr": "4.5.64.102",
            "srcport": 56067,
            "transport": "UDP",
            "srcids": {
                "instance": "i-0d15cd0d3example",
                "resolver_endpoint": None,
                "resolver_network_interface": None,
            },
            "firewall_rule_action": "BLOCK",
            "firewall_rule_group_id": "rslvr-frg-01234567890abcdef",
            "firewall_domain_list_id": "rslvr-fdl-01234567890abcdef",
            "_pos": 1,
        }
    ]


def test_pretty_printed_example_is_not_json_lines() -> None:
    # the documentation prints the record over many lines; the logs never do
    table, reading = read(json.dumps(DOC_EXAMPLE, indent=4).encode())
    assert reading.kind != "dns" or table.num_rows == 0


def test_resolver_endpoint_queries_and_missing_members() -> None:
    endpoint = query(
        1,
        srcids={
            "resolver_endpoint": "rslvr-in-0123456789abcdef0",
            "resolver_network_interface": "rni-0123456789abcdef0",
        },
        transport="TCP",
    )
    nxdomain = query(2, rcode="NXDOMAIN", answers=[])
    bare = query(3)
    del bare["answers"], bare["srcids"], bare["srcport"]
    table, reading = read(lines(query(0), endpoint, nxdomain, bare))
    assert not reading.rejects
    assert table.column("srcids").to_pylist()[1] == {
        "instance": None,
        "resolver_endpoint": "rslvr-in-0123456789abcdef0",
        "resolver_network_interface": "rni-0123456789abcdef0",
    }
    answers = table.column("answers").to_pylist()
    assert len(answers[0]) == 2
    assert answers[2] == []  # answered with nothing
    assert answers[3] is None  # no answers member at all
    assert table.column("srcids").to_pylist()[3] is None
    assert table.column("srcport").to_pylist() == [40000, 40001, 40002, None]
    assert table.column("firewall_rule_action").to_pylist() == [None] * 4
    assert table.column("_pos").to_pylist() == [1, 2, 3, 4]


def test_answers_of_many_types_flatten_in_order() -> None:
    cname = [
        {"Rdata": "alias.example.net.", "Type": "CNAME", "Class": "IN"},
        {"Rdata": "2001:db8::1", "Type": "AAAA", "Class": "IN"},
        {"Rdata": '"v=spf1 -all"', "Type": "TXT", "Class": "IN"},
    ]
    table, _ = read(lines(query(0, answers=cname), query(1), query(2, answers=cname[:1])))
    answers = table.column("answers").combine_chunks()
    assert answers.flatten().field("Type").to_pylist() == [
        "CNAME",
        "AAAA",
        "TXT",
        "A",
        "A",
        "CNAME",
    ]
    assert answers.value_lengths().to_pylist() == [3, 2, 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-02-04T17:51:55Z", datetime(2021, 2, 4, 17, 51, 55, tzinfo=UTC)),
        ("2021-02-04T17:51:55.123Z", datetime(2021, 2, 4, 17, 51, 55, 123000, tzinfo=UTC)),
        ("2021-02-04T17:51:55.1234567Z", datetime(2021, 2, 4, 17, 51, 55, 123000, tzinfo=UTC)),
        ("2017-03-16T19:20:177Z", None),  # the malformed example in AWS's format page
        ("1612461115", None),
    ],
)
def test_query_timestamp(text: str, expected: datetime | None) -> None:
    table, reading = read(lines(query(0), query(1, query_timestamp=text)))
    if expected is None:
        assert table.column("_pos").to_pylist() == [1]
        assert rejects(reading) == [("line 2", f"bad query_timestamp: {text!r}")]
    else:
        assert not reading.rejects
        assert table.column("query_timestamp").to_pylist()[1] == expected


@pytest.mark.parametrize(
    ("port", "expected"),
    [("53045", 53045), (53045, 53045), ("0", 0), ("65535", 65535), (None, None)],
)
def test_srcport_becomes_an_integer(port: Any, expected: int | None) -> None:
    table, reading = read(lines(query(0, srcport=port)))
    assert not reading.rejects
    assert table.column("srcport").to_pylist() == [expected]


@pytest.mark.parametrize("port", ["abc", "", "65536", "-1", "99999999999", " 53", "5.3"])
def test_bad_srcport_rejects_the_line(port: str) -> None:
    table, reading = read(lines(query(0), query(1, srcport=port), query(2)))
    assert table.column("_pos").to_pylist() == [1, 3]
    assert rejects(reading) == [("line 2", f"bad srcport: {port!r}")]


def test_wrong_types_and_missing_members_reject_only_their_lines() -> None:
    no_time = query(3)
    del no_time["query_timestamp"]
    no_name = query(4)
    del no_name["query_name"]
    data = lines(
        query(0),
        query(1, query_name=12345),
        query(2, answers="203.0.113.9"),
        no_time,
        no_name,
        query(5, srcids=["i-1"]),
        query(6),
    )
    table, reading = read(data)
    assert not reading.failed
    assert table.column("_pos").to_pylist() == [1, 7]
    got = rejects(reading)
    assert [p for p, _ in got] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "query_name" in got[0][1] and "answers" in got[1][1] and "srcids" in got[4][1]
    assert got[2][1] == "missing query_timestamp" and got[3][1] == "missing query_name"


def test_truncated_and_garbage_lines() -> None:
    cut = json.dumps(query(1)).encode()[:80]
    data = lines(query(0)) + cut + b"\n" + b"\x00\xff not json\n" + lines(query(3)) + cut
    table, reading = read(data)
    assert table.column("_pos").to_pylist() == [1, 4]
    got = rejects(reading)
    assert [p for p, _ in got] == ["line 2", "line 3", "line 5"]
    assert got[0][1] == "truncated JSON" and got[2][1] == "truncated JSON"


def test_blank_lines_crlf_and_no_final_newline() -> None:
    data = b"\n" + lines(query(0)).replace(b"\n", b"\r\n") + b"  \n" + json.dumps(query(1)).encode()
    table, reading = read(data)
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [2, 4]


def test_hostile_strings_are_kept_verbatim() -> None:
    evil = "x'; DROP TABLE q;--\x00\x1b]0;pwn\x07.\u202eexample.com." + "a" * 100_000
    table, reading = read(lines(query(0, query_name=evil, answers=[{"Rdata": evil}])))
    assert not reading.rejects
    assert table.column("query_name").to_pylist() == [evil]
    assert table.column("answers").to_pylist()[0] == [{"Rdata": evil, "Type": None, "Class": None}]


def test_gzip_reads_the_same_rows() -> None:
    data = lines(*[query(i) for i in range(200)])
    plain, _ = read(data)
    packed, reading = read(gzip.compress(data))
    assert not reading.rejects and reading.kind == "dns"
    assert packed.equals(plain)


def test_tiny_batches_and_tiny_chunks_give_identical_rows() -> None:
    qs = [query(i) for i in range(60)]
    qs[9] = query(9, srcport="nope")
    qs[33] = query(33, query_type=28)
    data = lines(*qs[:40]) + b"\n" + lines(*qs[40:])
    whole, reading = read(data)
    assert whole.num_rows == 58 and len(reading.rejects) == 2
    for batch_rows in (1, 4, 1000):
        table, small = read(data, batch_rows=batch_rows)
        assert table.equals(whole)
        assert rejects(small) == rejects(reading)
    for chunk in (1, 3, 333, 1 << 20):
        ctx = ReadContext("direct", ReadOptions(batch_rows=5))
        batches = list(ResolverQueryReader().read(split(data, chunk), ctx))
        assert all(b.num_rows <= 5 for b in batches)
        assert pa.Table.from_batches(batches, schema=DNS).equals(whole)
        assert rejects(ctx) == rejects(reading)
