"""Columns added to every batch: threat and trusted hits, GeoIP/ASN and AWS ranges.

For each address column ``A`` of a log type (CloudTrail ``sourceIPAddress``; flow
``srcaddr`` and ``dstaddr``; Resolver ``srcaddr``) the batch gains:

* ``A__threat_custom``, ``A__threat_tor``, ``A__threat_mining``, ``A__threat_c2`` - the name of
  the threat list of that category the address is on (the narrowest entry wins), and
  ``A__threat_<category>_name`` the threat name that entry carries, if any;
* ``A__trusted`` - the trusted list it is on;
* ``A__public`` - publicly routable; and for public addresses ``A__country``,
  ``A__country_name``, ``A__city``, ``A__asn``, ``A__as_org``;
* ``A__aws`` - an AWS address (from an ``aws`` list - AWS's ip-ranges.json - or, without one,
  from the AS organisation), with ``A__aws_service`` and ``A__aws_region`` when known.

For Resolver logs the queried domain gets the threat and trusted columns too
(``query_name__threat_<category>``, ``query_name__trusted``), and ``answers__threat_<category>``
names the list an answer's address is on.

Rows whose remote side is trusted - a trusted address in CloudTrail and flow logs, a trusted
domain in Resolver logs - are dropped before any detection sees them: trusted lists win over
threat lists and over every other detection, as in GuardDuty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.enrich.addresses import (
    AddressIndex,
    ParsedAddresses,
    is_public,
    parse_addresses,
    parse_distinct,
)
from trailguard.enrich.domains import DomainIndex
from trailguard.enrich.entries import ListEntries
from trailguard.enrich.geo import AMAZON_AS_ORGS, GeoLookup
from trailguard.enrich.lists import CATEGORIES

ADDRESS_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "cloudtrail": ("sourceIPAddress",),
    "vpcflow": ("srcaddr", "dstaddr"),
    "dns": ("srcaddr",),
}
DOMAIN_COLUMNS: Final[dict[str, tuple[str, ...]]] = {"dns": ("query_name",)}
#: address columns that may hold a host name instead (CloudTrail's sourceIPAddress names the
#: AWS service that made a call): domain lists apply to the names
HOST_COLUMNS: Final[dict[str, tuple[str, ...]]] = {"cloudtrail": ("sourceIPAddress",)}
#: whose trusted hit drops the row (the remote side in each log type)
TRUSTED_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "cloudtrail": ("sourceIPAddress",),
    "vpcflow": ("srcaddr", "dstaddr"),
    "dns": ("query_name",),
}


@dataclass(slots=True)
class _Labels:
    """Payload of an index entry: which list, and which threat name."""

    lists: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)

    def arrays(self) -> tuple[pa.Array, pa.Array]:
        return pa.array(self.lists, pa.string()), pa.array(self.names, pa.string())


@dataclass(slots=True)
class _Collected:
    """Entries of several lists, their payloads renumbered into one label table."""

    labels: _Labels = field(default_factory=_Labels)
    v4: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    v6: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    domain_info: list[np.ndarray] = field(default_factory=list)
    wildcards: list[str] = field(default_factory=list)
    wildcard_info: list[np.ndarray] = field(default_factory=list)

    def add(self, name: str, entries: ListEntries) -> None:
        offset = len(self.labels.lists) + 1  # info -1 (no threat name) -> the list's own label
        self.labels.lists.append(name)
        self.labels.names.append(None)
        for threat in entries.threats:
            self.labels.lists.append(name)
            self.labels.names.append(threat)

        def info(a: Sequence[int]) -> np.ndarray:
            return np.asarray(a, dtype=np.int32) + np.int32(offset)

        def q(a: Sequence[int]) -> np.ndarray:
            return np.asarray(a, dtype=np.uint64)

        self.v4.append((q(entries.v4_start), q(entries.v4_end), info(entries.v4_info)))
        self.v6.append(
            (
                q(entries.v6_start_hi),
                q(entries.v6_start_lo),
                q(entries.v6_end_hi),
                q(entries.v6_end_lo),
                info(entries.v6_info),
            )
        )
        self.domains.extend(entries.domains)
        self.domain_info.append(info(entries.domain_info))
        self.wildcards.extend(entries.wildcards)
        self.wildcard_info.append(info(entries.wildcard_info))

    def address_index(self) -> AddressIndex:
        def cat(parts: Sequence[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        return AddressIndex.build(
            cat([p[0] for p in self.v4], np.uint64),
            cat([p[1] for p in self.v4], np.uint64),
            cat([p[2] for p in self.v4], np.int32),
            cat([p[0] for p in self.v6], np.uint64),
            cat([p[1] for p in self.v6], np.uint64),
            cat([p[2] for p in self.v6], np.uint64),
            cat([p[3] for p in self.v6], np.uint64),
            cat([p[4] for p in self.v6], np.int32),
        )

    def domain_index(self) -> DomainIndex:
        def cat(parts: Sequence[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, np.int32)

        return DomainIndex.build(
            self.domains, cat(self.domain_info), self.wildcards, cat(self.wildcard_info)
        )


@dataclass(frozen=True, slots=True)
class _Lookup:
    addresses: AddressIndex
    domains: DomainIndex
    lists: pa.Array
    names: pa.Array

    @classmethod
    def of(cls, collected: _Collected) -> _Lookup:
        lists, names = collected.labels.arrays()
        return cls(collected.address_index(), collected.domain_index(), lists, names)

    @property
    def empty(self) -> bool:
        return len(self.lists) == 0

    def label(self, idx: np.ndarray) -> tuple[pa.Array, pa.Array]:
        where = pa.array(idx, pa.int32(), mask=idx < 0)
        return self.lists.take(where), self.names.take(where)


@dataclass(frozen=True, slots=True)
class EnrichResult:
    """An enriched batch, without the rows about trusted addresses (``rows`` counts them)."""

    batch: pa.RecordBatch
    trusted_rows: int

    @property
    def rows(self) -> int:
        return int(self.batch.num_rows) + self.trusted_rows


class Enricher:
    """Adds the enrichment columns to batches; built once per scan from the store's lists."""

    def __init__(
        self,
        threat: dict[str, list[tuple[str, ListEntries]]] | None = None,
        trusted: Sequence[tuple[str, ListEntries]] = (),
        aws: Sequence[tuple[str, ListEntries]] = (),
        geo: GeoLookup | None = None,
    ) -> None:
        threat = threat or {}
        self.threat: dict[str, _Lookup] = {}
        for category in CATEGORIES:
            c = _Collected()
            for name, entries in threat.get(category, []):
                c.add(name, entries)
            self.threat[category] = _Lookup.of(c)
        t = _Collected()
        for name, entries in trusted:
            t.add(name, entries)
        self.trusted = _Lookup.of(t)
        a = _Collected()
        for name, entries in aws:
            a.add(name, entries)
        self.aws = _Lookup.of(a)
        self.has_aws_ranges = bool(aws)
        self.geo = geo or GeoLookup()

    def enrich(self, log_type: str, batch: pa.RecordBatch) -> EnrichResult:
        return self.enrich_batches(log_type, [batch])[0]

    def enrich_batches(
        self, log_type: str, batches: Sequence[pa.RecordBatch]
    ) -> list[EnrichResult]:
        """Each batch enriched, the lookups done once for all of them (batches of one
        object share most of their addresses: four batches hold about half as many
        distinct ones as four times one)."""
        if len(batches) == 1:
            data: pa.RecordBatch | pa.Table = batches[0]
        else:
            data = pa.Table.from_batches(batches)
        names = data.schema.names
        columns: dict[str, pa.Array] = {}
        trusted: list[np.ndarray] = []
        watch = TRUSTED_COLUMNS.get(log_type, ())
        present = [n for n in ADDRESS_COLUMNS.get(log_type, ()) if n in names]
        hosts = [n for n in present if n in HOST_COLUMNS.get(log_type, ())]
        plain = [n for n in present if n not in hosts]
        for group, as_hosts in ((plain, False), (hosts, True)):
            if not group:
                continue
            added, trusted_rows = self._addresses([(n, data.column(n)) for n in group], as_hosts)
            columns.update(added)
            trusted.extend(t for n, t in trusted_rows.items() if n in watch and t is not None)
        for name in DOMAIN_COLUMNS.get(log_type, ()):
            if name in names:
                added, is_trusted = self._domains(name, data.column(name))
                columns.update(added)
                if name in watch and is_trusted is not None:
                    trusted.append(is_trusted)
        if log_type == "dns" and "answers" in names:
            columns.update(self._answers(data.column("answers")))
        mask = np.logical_or.reduce(trusted) if trusted else None
        results: list[EnrichResult] = []
        start = 0
        for batch in batches:
            n = batch.num_rows
            out = batch
            for name, array in columns.items():
                out = out.append_column(name, array.slice(start, n) if len(batches) > 1 else array)
            dropped = 0
            if mask is not None:
                drop = mask[start : start + n]
                dropped = int(drop.sum())
                if dropped:
                    out = out.filter(pa.array(~drop))
            results.append(EnrichResult(out, dropped))
            start += n
        return results

    def _addresses(
        self, columns: list[tuple[str, pa.Array | pa.ChunkedArray]], hosts: bool = False
    ) -> tuple[dict[str, pa.Array], dict[str, np.ndarray | None]]:
        """The enrichment columns of address columns of equal length, and per column which
        rows are trusted (None: no trusted lists).

        Everything is looked up once per distinct address of all the columns together (a
        flow's sources and destinations share most of theirs); the new columns are
        dictionary arrays over the distinct values, so repeats cost nothing."""
        n = len(columns[0][1])
        if len(columns) == 1:
            joined = columns[0][1]
        else:
            joined = pa.chunked_array(
                [c for _, col in columns for c in _chunks(col)], type=columns[0][1].type
            )
        all_rows, distinct = _distinct(joined)
        parsed = parse_distinct(distinct)
        threat = {
            category: None if lookup.empty else lookup.label(_find(lookup, parsed, distinct, hosts))
            for category, lookup in self.threat.items()
        }
        trusted_idx = None if self.trusted.empty else _find(self.trusted, parsed, distinct, hosts)
        trusted = None
        if trusted_idx is not None:
            trusted = (self.trusted.label(trusted_idx)[0], trusted_idx >= 0)
        public = is_public(parsed)
        geo = self._geo_values(distinct, parsed, public)
        out: dict[str, pa.Array] = {}
        trusted_rows: dict[str, np.ndarray | None] = {}
        for k, (name, _) in enumerate(columns):
            rows = all_rows if len(columns) == 1 else all_rows.slice(k * n, n)
            for category, labels in threat.items():
                if labels is None:
                    out[f"{name}__threat_{category}"] = _NULLS(n)
                    out[f"{name}__threat_{category}_name"] = _NULLS(n)
                else:
                    out[f"{name}__threat_{category}"] = _per_row(rows, labels[0])
                    out[f"{name}__threat_{category}_name"] = _per_row(rows, labels[1])
            if trusted is None:
                out[f"{name}__trusted"] = _NULLS(n)
                trusted_rows[name] = None
            else:
                out[f"{name}__trusted"] = _per_row(rows, trusted[0])
                trusted_rows[name] = _rows_where(rows, trusted[1])
            out[f"{name}__public"] = pa.array(_rows_where(rows, public), pa.bool_())
            for suffix, values in geo.items():
                if values is None:
                    out[f"{name}__{suffix}"] = _NULLS(n)
                elif isinstance(values, np.ndarray):
                    out[f"{name}__{suffix}"] = pa.array(_rows_where(rows, values), pa.bool_())
                else:
                    out[f"{name}__{suffix}"] = _per_row(rows, values)
        return out, trusted_rows

    def _geo_values(
        self, distinct: pa.Array, parsed: ParsedAddresses, public: np.ndarray
    ) -> dict[str, pa.Array | np.ndarray | None]:
        """Per distinct address, in column order: the geo fields and the AWS ones (flags as
        numpy arrays; None for a column that is null throughout)."""
        geo = self.geo.columns(distinct, parsed, public)
        out: dict[str, pa.Array | np.ndarray | None] = {
            "country": geo.country_code,
            "country_name": geo.country_name,
            "city": geo.city,
            "asn": geo.asn,
            "as_org": geo.as_org,
        }
        if self.has_aws_ranges:
            _, label = self.aws.label(self.aws.addresses.lookup(parsed))
            parts = pc.split_pattern(label, " ", max_splits=1)
            out["aws"] = pc.is_valid(label).to_numpy(zero_copy_only=False)
            out["aws_service"] = pc.list_element(parts, 0)
            out["aws_region"] = pc.list_element(parts, 1)
        else:
            out["aws"] = pc.fill_null(
                pc.is_in(geo.as_org, value_set=pa.array(sorted(AMAZON_AS_ORGS))), False
            ).to_numpy(zero_copy_only=False)
            out["aws_service"] = None
            out["aws_region"] = None
        return out

    def _domains(self, name: str, col: pa.Array) -> tuple[dict[str, pa.Array], np.ndarray | None]:
        rows, distinct = _distinct(col)
        n = len(col)
        out: dict[str, pa.Array] = {}
        for category, lookup in self.threat.items():
            if lookup.empty:
                out[f"{name}__threat_{category}"] = _NULLS(n)
                out[f"{name}__threat_{category}_name"] = _NULLS(n)
                continue
            idx = lookup.domains.lookup_column(distinct)
            out[f"{name}__threat_{category}"] = _per_row(rows, lookup.lists.take(idx))
            out[f"{name}__threat_{category}_name"] = _per_row(rows, lookup.names.take(idx))
        if self.trusted.empty:
            out[f"{name}__trusted"] = _NULLS(n)
            return out, None
        idx = self.trusted.domains.lookup_column(distinct)
        out[f"{name}__trusted"] = _per_row(rows, self.trusted.lists.take(idx))
        return out, _rows_where(rows, pc.is_valid(idx).to_numpy(zero_copy_only=False))

    def _answers(self, answers: pa.Array) -> dict[str, pa.Array]:
        """Per row, the threat list of the first answer whose address is on one."""
        n = len(answers)
        if isinstance(answers, pa.ChunkedArray):
            answers = answers.combine_chunks()
        values = pc.list_flatten(answers)
        parents = pc.list_parent_indices(answers).to_numpy(zero_copy_only=False)
        rdata = pc.struct_field(values, "Rdata") if len(values) else pa.array([], pa.string())
        parsed: ParsedAddresses | None = parse_addresses(rdata) if len(values) else None
        out: dict[str, pa.Array] = {}
        for category, lookup in self.threat.items():
            per_row = np.full(n, -1, dtype=np.int32)
            if parsed is not None:
                idx = lookup.addresses.lookup(parsed)
                hit = idx >= 0
                # reversed, so that the first matching answer of a row is written last
                per_row[parents[hit][::-1]] = idx[hit][::-1]
            out[f"answers__threat_{category}"] = lookup.label(per_row)[0]
        return out


def _find(lookup: _Lookup, parsed: ParsedAddresses, distinct: pa.Array, hosts: bool) -> np.ndarray:
    """The entry of each distinct value: its address, or (``hosts``) its name as a domain."""
    idx = lookup.addresses.lookup(parsed)
    if hosts and len(lookup.domains):
        named = lookup.domains.lookup(distinct)
        idx = np.where(idx >= 0, idx, named)
    return idx


def _chunks(col: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def _NULLS(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _distinct(col: pa.Array | pa.ChunkedArray) -> tuple[pa.Int32Array, pa.Array]:
    """Each row's index into the column's distinct values (null for null rows), and those."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        return col.indices.cast(pa.int32()), col.dictionary
    encoded = pc.dictionary_encode(col)
    return encoded.indices.cast(pa.int32()), encoded.dictionary


def _per_row(rows: pa.Int32Array, values: pa.Array) -> pa.Array:
    """A column over the rows from one value per distinct value (no copy per row)."""
    return pa.DictionaryArray.from_arrays(rows, values)


def _rows_where(rows: pa.Int32Array, flags: np.ndarray) -> np.ndarray:
    """Per row, ``flags`` of its distinct value (False for null rows)."""
    at = np.asarray(rows.fill_null(len(flags)).to_numpy(zero_copy_only=False), dtype=np.intp)
    padded: np.ndarray = np.append(np.asarray(flags, dtype=bool), False)
    return np.asarray(padded[at], dtype=bool)
