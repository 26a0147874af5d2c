"""Route 53 Resolver query log reader: JSON lines -> :data:`~trailguard.formats.schema.DNS`.

Resolver query logs reach S3 (gzip) and CloudWatch Logs as one JSON object per
line, for example::

    {"version":"1.100000","account_id":"111122223333","region":"us-east-1",
     "vpc_id":"vpc-7example","query_timestamp":"2021-02-04T17:51:55Z",
     "query_name":"15.3.4.32.in-addr.arpa.","query_type":"PTR","query_class":"IN",
     "rcode":"NOERROR","answers":[{"Rdata":"203.0.113.9","Type":"PTR","Class":"IN"}],
     "srcaddr":"4.5.64.102","srcport":"56067","transport":"UDP",
     "srcids":{"instance":"i-0d15cd0d3example"},
     "firewall_rule_action":"BLOCK","firewall_rule_group_id":"rslvr-frg-01234567890abcdef",
     "firewall_domain_list_id":"rslvr-fdl-01234567890abcdef"}

(``srcids`` may instead name a ``resolver_endpoint`` and
``resolver_network_interface``; the firewall members are present only when a DNS
Firewall rule matched.)  The stream is read a block of whole lines at a time and
each block is decoded in one msgspec call into typed structs holding only the
schema's fields; a block that fails is decoded line by line and the bad lines
are rejected as ``line N``.  ``srcport`` is a string in AWS's logs (a JSON number
is accepted too) and becomes an ``int32``; a line whose ``query_timestamp`` or
``srcport`` cannot be read, or that lacks ``query_timestamp`` or ``query_name``,
is rejected.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.formats.base import ReadContext
from trailguard.formats.cloudtrail import (
    Failure,
    decode_line_block,
    iter_line_blocks,
    parse_timestamps,
    positions,
    preview,
    rebatch,
    report,
    strings,
)
from trailguard.formats.schema import DNS, DNS_ANSWER, DNS_SRCIDS

__all__ = ["ResolverQueryReader"]

_I32: Final = pa.int32()
_PORT_MAX: Final = 65535


class _Struct(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True, gc=False):
    pass


class _Answer(_Struct):
    Rdata: str | None = None
    Type: str | None = None
    Class: str | None = None


class _SrcIds(_Struct):
    instance: str | None = None
    resolver_endpoint: str | None = None
    resolver_network_interface: str | None = None


class _Query(_Struct):
    version: str | None = None
    account_id: str | None = None
    region: str | None = None
    vpc_id: str | None = None
    query_timestamp: str | None = None
    query_name: str | None = None
    query_type: str | None = None
    query_class: str | None = None
    rcode: str | None = None
    answers: list[_Answer] | None = None
    srcaddr: str | None = None
    # a string in AWS's logs ("56067"); a JSON number is accepted too
    srcport: str | int | None = None
    transport: str | None = None
    srcids: _SrcIds | None = None
    firewall_rule_action: str | None = None
    firewall_rule_group_id: str | None = None
    firewall_domain_list_id: str | None = None


assert _Query.__struct_fields__ == tuple(DNS.names[:-1])

_DECODER: Final = msgspec.json.Decoder(_Query)
_NO_SRCIDS: Final = _SrcIds()
_NO_ANSWERS: Final[list[_Answer]] = []
_TIME: Final = DNS.get_field_index("query_timestamp")
_NAME: Final = DNS.get_field_index("query_name")
_PORT: Final = DNS.get_field_index("srcport")


def _answers(values: list[list[_Answer] | None]) -> pa.Array:
    """``list<struct<Rdata, Type, Class>>``: absent -> null, ``[]`` -> empty list."""
    missing = [v is None for v in values]
    lists: list[list[_Answer]] = [_NO_ANSWERS if v is None else v for v in values]
    lens = array("i", [0])
    lens.extend(map(len, lists))
    ends = pc.cumulative_sum(pa.Array.from_buffers(_I32, len(lens), [None, pa.py_buffer(lens)]))
    flat = list(chain.from_iterable(lists))
    items = pa.StructArray.from_arrays(
        [
            strings([a.Rdata for a in flat]),
            strings([a.Type for a in flat]),
            strings([a.Class for a in flat]),
        ],
        fields=list(DNS_ANSWER),
    )
    mask = pa.array(missing, type=pa.bool_()) if any(missing) else None
    return pa.ListArray.from_arrays(ends, items, type=DNS.field("answers").type, mask=mask)


def _srcids(values: list[_SrcIds | None]) -> pa.Array:
    missing = [v is None for v in values]
    if all(missing):
        return pa.nulls(len(values), DNS_SRCIDS)
    present: list[_SrcIds] = [_NO_SRCIDS if v is None else v for v in values]
    return pa.StructArray.from_arrays(
        [
            strings([s.instance for s in present]),
            strings([s.resolver_endpoint for s in present]),
            strings([s.resolver_network_interface for s in present]),
        ],
        fields=list(DNS_SRCIDS),
        mask=pa.array(missing, type=pa.bool_()) if any(missing) else None,
    )


def _ports(values: list[str | int | None]) -> pa.Array:
    """Port strings -> ``int32``; unreadable -> null (the caller rejects those rows)."""
    texts = strings([str(v) if isinstance(v, int) else v for v in values])
    return _cast_ports(texts)


def _cast_ports(texts: pa.Array) -> pa.Array:
    try:
        ports = texts.cast(_I32)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(texts) == 1:
            return pa.nulls(1, _I32)
        half = len(texts) // 2
        return pa.concat_arrays([_cast_ports(texts.slice(0, half)), _cast_ports(texts.slice(half))])
    out_of_range = pc.or_(pc.less(ports, 0), pc.greater(ports, _PORT_MAX))
    if out_of_range.true_count:
        ports = pc.if_else(out_of_range, pa.scalar(None, _I32), ports)
    return ports


def _batch(
    queries: list[_Query], pos: Sequence[int]
) -> tuple[pa.RecordBatch | None, list[Failure]]:
    if not queries:
        return None, []
    times = strings([q.query_timestamp for q in queries])
    ports = [q.srcport for q in queries]
    columns = [
        strings([q.version for q in queries]),
        strings([q.account_id for q in queries]),
        strings([q.region for q in queries]),
        strings([q.vpc_id for q in queries]),
        parse_timestamps(times),
        strings([q.query_name for q in queries]),
        strings([q.query_type for q in queries]),
        strings([q.query_class for q in queries]),
        strings([q.rcode for q in queries]),
        _answers([q.answers for q in queries]),
        strings([q.srcaddr for q in queries]),
        _ports(ports),
        strings([q.transport for q in queries]),
        _srcids([q.srcids for q in queries]),
        strings([q.firewall_rule_action for q in queries]),
        strings([q.firewall_rule_group_id for q in queries]),
        strings([q.firewall_domain_list_id for q in queries]),
        positions(pos),
    ]
    batch = pa.RecordBatch.from_arrays(columns, schema=DNS)
    stamps, names, port_col = columns[_TIME], columns[_NAME], columns[_PORT]
    if not (stamps.null_count or names.null_count or port_col.null_count):
        return batch, []
    bad: dict[int, str] = {}
    if stamps.null_count:
        for i, stamp in enumerate(stamps):
            if not stamp.is_valid:
                text = queries[i].query_timestamp
                bad[i] = (
                    "missing query_timestamp"
                    if text is None
                    else f"bad query_timestamp: {preview(text)}"
                )
    if names.null_count:
        for i, name in enumerate(names):
            if not name.is_valid:
                bad.setdefault(i, "missing query_name")
    if port_col.null_count:
        for i, port in enumerate(port_col):
            if not port.is_valid and ports[i] is not None:
                bad.setdefault(i, f"bad srcport: {preview(str(ports[i]))}")
    keep = pa.array([i not in bad for i in range(len(queries))], type=pa.bool_())
    return batch.filter(keep), [(pos[i], reason) for i, reason in bad.items()]


class ResolverQueryReader:
    """Reads Route 53 Resolver query logs into :data:`~trailguard.formats.schema.DNS` batches."""

    def read(self, chunks: Iterator[bytes], ctx: ReadContext) -> Iterator[pa.RecordBatch]:
        def parts() -> Iterator[pa.RecordBatch | None]:
            for line, block, count in iter_line_blocks(chunks, ctx):
                queries, pos, failed = decode_line_block(_DECODER, line, block, count)
                batch, bad = _batch(queries, pos)
                report(ctx, "line", failed + bad)
                yield batch

        yield from rebatch(parts(), ctx.options.batch_rows)
