"""FlowLogReader: VPC / Transit Gateway flow logs -> the VPCFLOW schema.

Most tests go through :func:`read_object` (sniffing, gzip, rejects as the scan sees
them); the property test compares the reader with a small line-by-line reference
written independently here, over random content and random chunk/block/batch sizes.
"""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailguard.errors import ConfigError, UnknownFormatError
from trailguard.formats import ObjectReading, read_object
from trailguard.formats.base import ReadContext, ReadOptions
from trailguard.formats.schema import FLOW_DEFAULT_FORMAT, FLOW_FIELDS, VPCFLOW
from trailguard.formats.vpcflow import FlowLogReader, parse_flow_format
from trailguard.sources.base import SourceObject

DEFAULT_HEADER = " ".join(FLOW_DEFAULT_FORMAT)

# AWS's documented examples (default format)
ACCEPT = (
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 "
    "20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
)
REJECT = (
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 "
    "49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
)
NODATA = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
SKIPDATA = "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA"
IPV6 = (
    "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 "
    "2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK"
)

V5_FORMAT = (
    "version srcaddr dstaddr srcport dstport protocol start end type packets bytes "
    "account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type "
    "sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service "
    "pkt-dst-aws-service traffic-path flow-direction log-status"
)
V5_LINE = (
    "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 "
    "123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b "
    "eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 "
    "S3 - - ingress OK"
)

TGW_FORMAT = (
    "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id "
    "tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id "
    "tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr "
    "dstaddr srcport dstport protocol packets bytes start end log-status type "
    "packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded "
    "packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service "
    "pkt-dst-aws-service"
)
TGW_LINE = (
    "6 TransitGateway 123456789012 tgw-0123456789abcdef0 tgw-attach-0123456789abcdef0 "
    "123456789012 210987654321 vpc-0aaaaaaaaaaaaaaaa vpc-0bbbbbbbbbbbbbbbb "
    "subnet-0aaaaaaaaaaaaaaaa subnet-0bbbbbbbbbbbbbbbb eni-0aaaaaaaaaaaaaaaa "
    "eni-0bbbbbbbbbbbbbbbb use1-az1 use1-az2 tgw-attach-0fedcba9876543210 10.0.1.5 "
    "10.1.2.6 49152 443 6 10 840 1700000000 1700000060 OK IPv4 0 1 0 2 3 us-east-1 "
    "egress - -"
)


def make_object(data: bytes, name: str = "s3://bucket/flow.log") -> SourceObject:
    return SourceObject(name, "v1", len(data), lambda: io.BytesIO(data))


def read(data: bytes | str, **options: Any) -> tuple[pa.Table, ObjectReading]:
    """Read through read_object; the rows as one table (schema-checked batch by batch)."""
    raw = data.encode() if isinstance(data, str) else data
    reading = read_object(make_object(raw), ReadOptions(**options))
    batches = list(reading.batches())
    for batch in batches:
        assert batch.schema == VPCFLOW
        assert 0 < batch.num_rows <= reading.options.batch_rows
    return pa.Table.from_batches(batches, schema=VPCFLOW), reading


def lines(*rows: str) -> str:
    return "".join(row + "\n" for row in rows)


def rejects(reading: ObjectReading) -> list[tuple[str, str]]:
    return [(r.position, r.reason) for r in reading.rejects]


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def read_direct(
    chunks: Iterable[bytes], reader: FlowLogReader | None = None, **options: Any
) -> tuple[pa.Table, ReadContext]:
    ctx = ReadContext("direct", ReadOptions(**options))
    batches = list((reader or FlowLogReader()).read(iter(chunks), ctx))
    for batch in batches:
        assert batch.schema == VPCFLOW
        assert 0 < batch.num_rows <= ctx.options.batch_rows
    return pa.Table.from_batches(batches, schema=VPCFLOW), ctx


def split(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# -- formats ----------------------------------------------------------------------------


def test_default_format_with_header() -> None:
    table, reading = read(lines(DEFAULT_HEADER, ACCEPT, REJECT))
    assert reading.kind == "vpcflow" and not reading.failed and not reading.rejects
    assert reading.rows == 2
    assert table.schema == VPCFLOW
    first = table.to_pylist()[0]
    assert first["version"] == 2
    assert first["account_id"] == "123456789010"
    assert first["interface_id"] == "eni-1235b8ca123456789"
    assert first["srcaddr"] == "172.31.16.139"
    assert first["dstaddr"] == "172.31.16.21"
    assert (first["srcport"], first["dstport"], first["protocol"]) == (20641, 22, 6)
    assert (first["packets"], first["bytes"]) == (20, 4249)
    assert first["start"] == ts(1418530010)
    assert first["end"] == ts(1418530070)
    assert (first["action"], first["log_status"]) == ("ACCEPT", "OK")
    assert first["_pos"] == 2
    # every column the default format lacks is there, all null
    assert first["vpc_id"] is None and first["tgw_id"] is None and first["reject_reason"] is None
    assert table.column("_pos").to_pylist() == [2, 3]
    assert table.column("action").to_pylist() == ["ACCEPT", "REJECT"]


def test_column_types_follow_the_schema() -> None:
    table, _ = read(lines(DEFAULT_HEADER, ACCEPT))
    assert table.schema.field("version").type == pa.int32()
    assert table.schema.field("srcport").type == pa.int32()
    assert table.schema.field("bytes").type == pa.int64()
    assert table.schema.field("start").type == pa.timestamp("s", tz="UTC")
    assert table.schema.names == VPCFLOW.names
    assert len(table.schema) == 59


def test_headerless_default_lines() -> None:
    table, reading = read(lines(ACCEPT, REJECT, NODATA))
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [1, 2, 3]
    assert table.column("dstport").to_pylist() == [22, 3389, None]
    assert table.column("log_status").to_pylist() == ["OK", "OK", "NODATA"]


def test_version5_custom_format() -> None:
    table, reading = read(lines(V5_FORMAT, V5_LINE))
    assert not reading.rejects
    (row,) = table.to_pylist()
    assert row["version"] == 5
    assert (row["srcaddr"], row["dstaddr"], row["srcport"], row["dstport"]) == (
        "52.95.128.179",
        "10.0.0.71",
        80,
        34210,
    )
    assert (row["packets"], row["bytes"]) == (14, 15044)
    assert row["type"] == "IPv4"
    assert row["vpc_id"] == "vpc-abcdefab012345678"
    assert row["subnet_id"] == "subnet-aaaaaaaa012345678"
    assert row["instance_id"] == "i-0c50d5961bcb2d47b"
    assert (row["region"], row["az_id"]) == ("ap-southeast-2", "apse2-az3")
    assert row["sublocation_type"] is None and row["sublocation_id"] is None
    assert row["tcp_flags"] == 19
    assert row["pkt_src_aws_service"] == "S3" and row["pkt_dst_aws_service"] is None
    assert row["traffic_path"] is None
    assert row["flow_direction"] == "ingress"
    assert row["start"] == ts(1616729292)
    assert row["_pos"] == 2


def test_every_field_in_a_shuffled_order() -> None:
    names = list(FLOW_FIELDS)
    random.Random(7).shuffle(names)
    values = []
    expected: dict[str, Any] = {}
    for i, aws in enumerate(names):
        col, typ = FLOW_FIELDS[aws]
        if pa.types.is_timestamp(typ):
            values.append(str(1_700_000_000 + i))
            expected[col] = ts(1_700_000_000 + i)
        elif pa.types.is_integer(typ):
            values.append(str(i))
            expected[col] = i
        else:
            values.append(f"v{i}-{aws}")
            expected[col] = f"v{i}-{aws}"
    table, reading = read(lines(" ".join(names), " ".join(values)))
    assert not reading.rejects
    (row,) = table.to_pylist()
    assert row == {**expected, "_pos": 2}


def test_transit_gateway_format() -> None:
    table, reading = read(lines(TGW_FORMAT, TGW_LINE))
    assert not reading.rejects
    (row,) = table.to_pylist()
    assert row["resource_type"] == "TransitGateway"
    assert row["tgw_id"] == "tgw-0123456789abcdef0"
    assert row["tgw_attachment_id"] == "tgw-attach-0123456789abcdef0"
    assert row["tgw_src_vpc_account_id"] == "123456789012"
    assert row["tgw_dst_vpc_account_id"] == "210987654321"
    assert row["tgw_src_eni"] == "eni-0aaaaaaaaaaaaaaaa"
    assert row["tgw_dst_az_id"] == "use1-az2"
    assert row["tgw_pair_attachment_id"] == "tgw-attach-0fedcba9876543210"
    assert (row["packets_lost_no_route"], row["packets_lost_blackhole"]) == (0, 1)
    assert (row["packets_lost_mtu_exceeded"], row["packets_lost_ttl_expired"]) == (0, 2)
    assert (row["srcport"], row["dstport"], row["tcp_flags"]) == (49152, 443, 3)
    assert row["flow_direction"] == "egress"
    assert row["interface_id"] is None  # not a TGW field


def test_ipv6_addresses_are_kept_as_written() -> None:
    table, reading = read(lines(DEFAULT_HEADER, IPV6))
    assert not reading.rejects
    (row,) = table.to_pylist()
    assert row["srcaddr"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"
    assert row["dstaddr"] == "2001:db8:1234:a102:3304:8879:34cf:4071"


def test_nodata_and_skipdata_records_are_kept() -> None:
    table, reading = read(lines(DEFAULT_HEADER, NODATA, SKIPDATA))
    assert not reading.rejects
    rows = table.to_pylist()
    assert [r["log_status"] for r in rows] == ["NODATA", "SKIPDATA"]
    for r in rows:
        for col in ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes"):
            assert r[col] is None
        assert r["action"] is None
        assert r["start"] == ts(1431280876)
        assert r["account_id"] == "123456789010"


def test_dash_is_null_in_every_column_type() -> None:
    dashes = "2 - - - - - - - - - - - - -"
    table, reading = read(lines(DEFAULT_HEADER, dashes))
    assert not reading.rejects
    (row,) = table.to_pylist()
    assert row["version"] == 2
    assert all(v is None for k, v in row.items() if k not in ("version", "_pos"))


def test_strings_are_kept_verbatim_and_hostile_text_is_data() -> None:
    evil = "{__import__('os').system('x')};DROP\x00TABLE\x1b[31m'\"é"
    line = ACCEPT.replace("ACCEPT", evil)
    table, reading = read(lines(DEFAULT_HEADER, line))
    assert not reading.rejects
    assert table.column("action").to_pylist() == [evil]


# -- bad lines ----------------------------------------------------------------------------


def test_bad_field_count_and_bad_integers_reject_their_lines_only() -> None:
    bad_count = ACCEPT.rsplit(" ", 1)[0]  # 13 fields
    too_many = ACCEPT + " extra"
    bad_port = ACCEPT.replace(" 22 ", " ssh ")
    negative = ACCEPT.replace(" 4249 ", " -4249 ")
    overflow = ACCEPT.replace(" 4249 ", " 99999999999999999999 ")
    big_port = ACCEPT.replace(" 22 ", " 65536 ")
    data = lines(
        DEFAULT_HEADER,  # 1
        ACCEPT,  # 2
        bad_count,  # 3
        REJECT,  # 4
        bad_port,  # 5
        too_many,  # 6
        negative,  # 7
        overflow,  # 8
        big_port,  # 9
        NODATA,  # 10
    )
    table, reading = read(data)
    assert not reading.failed
    assert table.column("_pos").to_pylist() == [2, 4, 10]
    assert table.column("log_status").to_pylist() == ["OK", "OK", "NODATA"]
    assert rejects(reading) == [
        ("line 3", "expected 14 fields, found 13"),
        ("line 5", "dstport 'ssh' is not a non-negative integer"),
        ("line 6", "expected 14 fields, found 15"),
        ("line 7", "bytes '-4249' is not a non-negative integer"),
        ("line 8", "bytes '99999999999999999999' out of range (max 9223372036854775807)"),
        ("line 9", "dstport '65536' out of range (max 65535)"),
    ]
    assert all(r.object == "s3://bucket/flow.log" for r in reading.rejects)


@pytest.mark.parametrize(
    ("column", "value", "ok"),
    [
        ("srcport", "65535", True),
        ("srcport", "0000000000000000000000000443", True),
        ("srcport", "0x1bb", False),  # pyarrow would read hex
        ("srcport", "\t443", False),  # pyarrow would trim the tab
        ("srcport", "+443", False),
        ("srcport", "44 3", False),  # an extra field
        ("srcport", "٤٤٣", False),  # Arabic-Indic digits
        ("srcport", "", False),
        ("protocol", "255", True),
        ("protocol", "256", False),
        ("version", "2147483647", True),
        ("version", "2147483648", False),
        ("packets", "9223372036854775807", True),
        ("packets", "9223372036854775808", False),
        ("packets", "18446744073709551616", False),
        ("start", "253402300799", True),
        ("start", "253402300800", False),
        ("end", "1e9", False),
        ("end", "1418530070.5", False),
    ],
)
def test_integer_validation(column: str, value: str, ok: bool) -> None:
    fields = ACCEPT.split(" ")
    fields[FLOW_DEFAULT_FORMAT.index(column)] = value
    # both the typed and the string tier must agree: alone, and next to an "0x"
    for other in ("", "eni-0x0000"):
        data = lines(
            DEFAULT_HEADER,
            " ".join(fields),
            REJECT.replace("eni-1235b8ca123456789", other or "eni-1"),
        )
        table, reading = read(data)
        assert (table.num_rows == 2) is ok, (value, other, rejects(reading))
        assert len(reading.rejects) == (0 if ok else 1)
        if not ok:
            assert reading.rejects[0].position == "line 2"


def test_values_in_range_survive_next_to_bad_ones() -> None:
    big = ACCEPT.replace(" 20 4249 ", " 9223372036854775807 18446744073709551615 ")
    table, reading = read(lines(DEFAULT_HEADER, ACCEPT, big, REJECT))
    assert table.column("_pos").to_pylist() == [2, 4]
    assert table.column("bytes").to_pylist() == [4249, 4249]
    assert rejects(reading) == [
        ("line 3", "bytes '18446744073709551615' out of range (max 9223372036854775807)")
    ]


def test_reject_reason_is_short_for_huge_values() -> None:
    line = ACCEPT.replace(" 22 ", " " + "9" * 5000 + " ")
    _, reading = read(lines(ACCEPT, line))
    (reject,) = reading.rejects
    assert reject.position == "line 2"
    assert len(reject.reason) < 120


def test_truncated_final_line_without_newline_is_a_line() -> None:
    table, reading = read(lines(DEFAULT_HEADER, ACCEPT) + REJECT)
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [2, 3]
    truncated = REJECT[:-12]  # cut mid-record
    table, reading = read(lines(DEFAULT_HEADER, ACCEPT) + truncated)
    assert table.column("_pos").to_pylist() == [2]
    assert rejects(reading) == [("line 3", "expected 14 fields, found 12")]


def test_blank_lines_are_skipped_and_numbering_kept() -> None:
    data = "\n" + lines(DEFAULT_HEADER, "", ACCEPT, "", "", REJECT) + "\n"
    table, reading = read(data)
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [4, 7]


def test_crlf_line_endings() -> None:
    data = lines(DEFAULT_HEADER, ACCEPT, "", REJECT).replace("\n", "\r\n")
    table, reading = read(data)
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [2, 4]
    assert table.column("log_status").to_pylist() == ["OK", "OK"]


def test_bare_carriage_return_rejects_its_line() -> None:
    data = lines(DEFAULT_HEADER, ACCEPT, ACCEPT.replace(" OK", " O\rK"), REJECT)
    table, reading = read(data)
    assert table.column("_pos").to_pylist() == [2, 4]
    assert rejects(reading) == [("line 3", "carriage return inside the line")]


def test_invalid_utf8_in_a_read_field_rejects_the_line() -> None:
    bad = ACCEPT.replace("ACCEPT", "ACC\xffEPT").encode("latin-1")
    data = lines(DEFAULT_HEADER, ACCEPT).encode() + bad + b"\n" + REJECT.encode() + b"\n"
    table, reading = read(data)
    assert table.column("_pos").to_pylist() == [2, 4]
    assert rejects(reading) == [("line 3", "invalid UTF-8 in action")]


def test_unknown_header_field_is_skipped() -> None:
    header = DEFAULT_HEADER.replace("action", "future-field-x")
    table, reading = read(lines(header, ACCEPT.replace("ACCEPT", "\xff\xfe"), REJECT))
    assert not reading.rejects and not reading.failed
    assert table.column("action").to_pylist() == [None, None]
    assert table.column("log_status").to_pylist() == ["OK", "OK"]
    # the unknown field still counts as a field
    _, reading = read(lines(header, ACCEPT.rsplit(" ", 1)[0]))
    assert rejects(reading) == [("line 2", "expected 14 fields, found 13")]


def test_invalid_utf8_in_a_skipped_field_is_not_read() -> None:
    header = DEFAULT_HEADER.replace("action", "future-field-x")
    data = (lines(header) + ACCEPT.replace("ACCEPT", "\udcff")).encode("utf-8", "surrogateescape")
    table, reading = read(data)
    assert not reading.rejects
    assert table.num_rows == 1


def test_header_naming_a_field_twice_refuses_the_object() -> None:
    header = DEFAULT_HEADER.replace("dstport", "srcport")
    _, reading = read(lines(header, ACCEPT))
    assert reading.failed
    assert rejects(reading) == [("line 1", "flow log format names 'srcport' twice")]


def test_header_in_aws_template_syntax() -> None:
    header = " ".join(f"${{{name}}}" for name in FLOW_DEFAULT_FORMAT)
    table, reading = read(lines(header, ACCEPT))
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [2]


def test_header_only_gives_no_rows() -> None:
    table, reading = read(lines(DEFAULT_HEADER))
    assert table.num_rows == 0 and not reading.rejects and not reading.failed


def test_byte_order_mark_is_ignored() -> None:
    table, reading = read(b"\xef\xbb\xbf" + lines(DEFAULT_HEADER, ACCEPT).encode())
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [2]


def test_overlong_lines_are_rejected_without_holding_them() -> None:
    reader = FlowLogReader(max_line=200, block_bytes=256)
    long_mid = ACCEPT.replace("ACCEPT", "A" * 500)
    data = lines(DEFAULT_HEADER, ACCEPT, long_mid, REJECT).encode() + b"x" * 10_000
    for size in (1, 7, 64, 199, 200, 201, 4096, len(data)):
        table, ctx = read_direct(split(data, size), reader)
        assert table.column("_pos").to_pylist() == [2, 4], size
        assert [(r.position, r.reason) for r in ctx.rejects] == [
            ("line 3", "line longer than 200 bytes"),
            ("line 5", "line longer than 200 bytes"),
        ], size


# -- headerless layouts -------------------------------------------------------------------


def test_headerless_custom_format_is_refused_without_the_option() -> None:
    custom = V5_LINE
    table, reading = read(lines(custom, custom))
    assert reading.failed and table.num_rows == 0
    (reject,) = reading.rejects
    assert reject.object == "s3://bucket/flow.log"
    assert reject.position == "line 1"
    assert "--flow-format" in reject.reason
    assert "29 fields" in reject.reason


def test_headerless_custom_format_raises_when_read_directly() -> None:
    with pytest.raises(UnknownFormatError, match="--flow-format") as info:
        read_direct([lines("\n", "vpc-1 eni-2 10.0.0.1").encode()])
    assert "3 fields" in info.value.reason
    assert info.value.position == "line 3"


def test_headerless_default_needs_a_numeric_first_field() -> None:
    line = ACCEPT.replace("2 ", "v2 ", 1)
    _, reading = read(lines(line))
    assert reading.failed
    assert "--flow-format" in reading.rejects[0].reason


def test_headerless_custom_format_with_the_option() -> None:
    fmt = parse_flow_format(" ".join(f"${{{n}}}" for n in V5_FORMAT.split()))
    table, reading = read(lines(V5_LINE, V5_LINE.replace(" 80 ", " 8080 ")), flow_format=fmt)
    assert not reading.rejects
    assert table.column("srcport").to_pylist() == [80, 8080]
    assert table.column("_pos").to_pylist() == [1, 2]
    assert table.column("vpc_id").to_pylist() == ["vpc-abcdefab012345678"] * 2


def test_headerless_default_lines_win_over_the_option() -> None:
    fmt = parse_flow_format(V5_FORMAT)
    table, reading = read(lines(ACCEPT), flow_format=fmt)
    assert not reading.rejects
    assert table.column("dstport").to_pylist() == [22]


def test_option_with_the_wrong_field_count_refuses_the_object() -> None:
    fmt = parse_flow_format("version srcaddr dstaddr")
    _, reading = read(lines(V5_LINE), flow_format=fmt)
    assert reading.failed
    assert rejects(reading) == [
        ("line 1", "flow log lines have 29 fields but --flow-format names 3")
    ]


def test_a_header_wins_over_the_option() -> None:
    table, reading = read(lines(V5_FORMAT, V5_LINE), flow_format=("version", "srcaddr"))
    assert not reading.rejects
    assert table.column("srcport").to_pylist() == [80]


# -- parse_flow_format -------------------------------------------------------------------


def test_parse_flow_format() -> None:
    assert parse_flow_format("${version} ${account-id}  ${log-status}") == (
        "version",
        "account-id",
        "log-status",
    )
    assert parse_flow_format("version\tsrcaddr\n") == ("version", "srcaddr")
    assert parse_flow_format(" ".join(FLOW_DEFAULT_FORMAT)) == FLOW_DEFAULT_FORMAT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${version} ${colour} ${flavour}", "unknown field(s): colour, flavour"),
        ("", "no fields"),
        ("${version", "malformed field '${version'"),
        ("$version", "malformed field"),
        ("${Version}", "malformed field"),
        ("version version", "named twice: version"),
    ],
)
def test_parse_flow_format_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_flow_format(text)
    assert message in str(info.value)


# -- chunking, batching, gzip -------------------------------------------------------------


def _mixed_object(n: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    rows = [DEFAULT_HEADER]
    for i in range(n):
        roll = rng.random()
        if roll < 0.02:
            rows.append(ACCEPT.replace(" 22 ", " x22 "))
        elif roll < 0.04:
            rows.append(ACCEPT + " extra")
        elif roll < 0.05:
            rows.append("")
        elif roll < 0.1:
            rows.append(NODATA)
        elif roll < 0.15:
            rows.append(IPV6)
        else:
            rows.append(ACCEPT.replace(" 4249 ", f" {i} "))
    return lines(*rows).encode()


def test_chunk_and_batch_sizes_do_not_change_the_result() -> None:
    data = _mixed_object(600)
    whole, whole_ctx = read_direct([data])
    assert whole.num_rows > 500 and whole_ctx.rejects
    for chunk in (1, 2, 3, 17, 100, 4095):
        for reader in (FlowLogReader(block_bytes=1), FlowLogReader(block_bytes=10_000)):
            table, ctx = read_direct(split(data, chunk), reader, batch_rows=7)
            assert table.equals(whole), (chunk, reader)
            assert ctx.rejects == whole_ctx.rejects


def test_tiny_batches() -> None:
    data = _mixed_object(200)
    whole, _ = read_direct([data])
    ctx = ReadContext("direct", ReadOptions(batch_rows=1))
    batches = list(FlowLogReader().read(iter([data]), ctx))
    assert all(b.num_rows == 1 for b in batches)
    assert pa.Table.from_batches(batches).equals(whole)


def test_threads_do_not_change_the_result() -> None:
    data = _mixed_object(20_000)
    one, one_ctx = read_direct(split(data, 1 << 16), FlowLogReader(use_threads=False))
    many, many_ctx = read_direct(split(data, 1 << 16), FlowLogReader(block_bytes=1 << 20))
    assert one.equals(many) and one_ctx.rejects == many_ctx.rejects


def test_gzip_input() -> None:
    plain = _mixed_object(500)
    table, reading = read(gzip.compress(plain))
    expected, expected_ctx = read_direct([plain])
    assert reading.kind == "vpcflow" and not reading.failed
    assert table.equals(expected)
    assert [(r.position, r.reason) for r in reading.rejects] == [
        (r.position, r.reason) for r in expected_ctx.rejects
    ]


def test_many_blocks_keep_exact_line_numbers() -> None:
    n = 50_000
    body = "".join(ACCEPT.replace(" 4249 ", f" {i} ") + "\n" for i in range(n))
    data = (lines(DEFAULT_HEADER) + body).encode()
    table, ctx = read_direct(split(data, 1 << 14), FlowLogReader(block_bytes=1 << 16))
    assert not ctx.rejects
    assert table.column("_pos").to_pylist() == list(range(2, n + 2))
    assert table.column("bytes").to_pylist() == list(range(n))


# -- property: the reader agrees with a line-by-line reference ----------------------------

_LIMITS = {"srcport": 65_535, "dstport": 65_535, "protocol": 255, "start": 253_402_300_799}
_LIMITS["end"] = _LIMITS["start"]


def _reference(data: bytes, max_line: int) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """What the reader should produce for a default-format object with a header, line by line."""
    raw = data.split(b"\n")
    if data.endswith(b"\n"):
        raw.pop()
    rows: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    seen_header = False
    for number, line in enumerate(raw, start=1):
        if len(line) > max_line:
            bad.append((f"line {number}", f"line longer than {max_line} bytes"))
            continue
        if line.endswith(b"\r"):
            line = line[:-1]
        if not seen_header:
            if line.strip():
                assert line == DEFAULT_HEADER.encode()
                seen_header = True
            continue
        if not line:
            continue
        fields = line.split(b" ")
        if len(fields) != 14:
            bad.append((f"line {number}", f"expected 14 fields, found {len(fields)}"))
            continue
        if b"\r" in line:
            bad.append((f"line {number}", "carriage return inside the line"))
            continue
        row: dict[str, Any] = {}
        reason = None
        for aws, value in zip(FLOW_DEFAULT_FORMAT, fields, strict=True):
            col, typ = FLOW_FIELDS[aws]
            try:
                text = value.decode()
            except UnicodeDecodeError:
                reason = reason or f"invalid UTF-8 in {aws}"
                continue
            if text == "-":
                row[col] = None
            elif pa.types.is_string(typ):
                row[col] = text
            else:
                limit = _LIMITS.get(aws, 2**31 - 1 if typ == pa.int32() else 2**63 - 1)
                if not (text.isascii() and text.isdigit()) or int(text) > limit:
                    reason = reason or f"bad {aws}"
                    continue
                row[col] = ts(int(text)) if pa.types.is_timestamp(typ) else int(text)
        if reason:
            bad.append((f"line {number}", reason))
            continue
        rows.append({**{f.name: None for f in VPCFLOW}, **row, "_pos": number})
    return rows, bad


_PIECES = [
    ACCEPT,
    REJECT,
    NODATA,
    IPV6,
    "",
    " ",
    ACCEPT.replace(" 22 ", " 0x16 "),
    ACCEPT.replace(" 22 ", " \t22 "),
    ACCEPT.replace(" 22 ", " 99999 "),
    ACCEPT.replace(" 4249 ", " -1 "),
    ACCEPT.replace(" 4249 ", " 0004249 "),
    ACCEPT.replace("ACCEPT", "ACC\rEPT"),
    ACCEPT.replace("ACCEPT", "ACC\xe9PT"),
    ACCEPT.replace("ACCEPT", "A" * 300),
    ACCEPT.replace("OK", "OK\r"),
    ACCEPT + " ",
    ACCEPT.rsplit(" ", 1)[0],
    "2 - - - - - - - - - - - - -",
    "- - - - - - - - - - - - - -",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(0, len(_PIECES) - 1), max_size=60),
    bad_utf8=st.lists(st.integers(0, 59), max_size=3),
    final_newline=st.booleans(),
    chunk=st.integers(1, 700),
    block=st.integers(1, 2000),
    batch=st.integers(1, 50),
    threads=st.booleans(),
)
def test_reader_matches_reference(
    picks: list[int],
    bad_utf8: list[int],
    final_newline: bool,
    chunk: int,
    block: int,
    batch: int,
    threads: bool,
) -> None:
    body = [_PIECES[i].encode() for i in picks]
    for i in bad_utf8:
        if i < len(body) and body[i]:
            body[i] = body[i].replace(b"eni-", b"eni-\xff", 1)
    data = DEFAULT_HEADER.encode() + b"\n" + b"\n".join(body)
    if final_newline and body:
        data += b"\n"
    max_line = 250
    reader = FlowLogReader(block_bytes=block, max_line=max_line, use_threads=threads)
    table, ctx = read_direct(split(data, chunk), reader, batch_rows=batch)
    rows, bad = _reference(data, max_line)
    assert table.to_pylist() == rows
    got = [(r.position, r.reason) for r in ctx.rejects]
    assert [p for p, _ in got] == [p for p, _ in bad]
    for (_, reason), (_, expected) in zip(got, bad, strict=True):
        if expected.startswith("bad "):
            assert reason.startswith(expected[4:] + " ")
        else:
            assert reason == expected


def test_flow_format_option_wins_over_the_default_guess_when_it_fits() -> None:
    """14 headerless fields starting with a number, but --flow-format says otherwise."""
    from trailguard.formats import ReadOptions, read_object
    from trailguard.sources.base import SourceObject

    fmt = [
        "version",
        "vpc-id",
        "subnet-id",
        "instance-id",
        "interface-id",
        "account-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "start",
        "end",
        "action",
    ]
    line = (
        b"5 vpc-1 subnet-1 i-1 eni-1 111122223333 10.0.0.1 10.0.0.2 "
        b"1234 80 6 1700000000 1700000060 ACCEPT\n"
    )
    obj = SourceObject("x.log", "1", len(line), lambda: io.BytesIO(line))
    reading = read_object(obj, ReadOptions(flow_format=tuple(fmt)))
    rows = [r for b in reading.batches() for r in b.to_pylist()]
    assert not reading.rejects
    assert rows[0]["vpc_id"] == "vpc-1" and rows[0]["srcaddr"] == "10.0.0.1"
    assert rows[0]["dstport"] == 80
