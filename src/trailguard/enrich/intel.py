"""Managing intel lists: add, update (feeds, conditionally), remove - and noticing every change.

The outside world comes in through two callables: ``fetch`` (a location and the previous
copy's validators → :class:`~trailguard.sources.fetch.Fetched`) and the store.  A new copy
replaces the old one only if it parses into at least one entry and no more bad lines than
good ones; otherwise the last good copy stays and the failure is recorded against the list.
Each accepted change raises a ``Stealth:Trailguard/IntelListChanged`` occurrence (Low):
editing or emptying the allow list is a known way to blind a detector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from trailguard.detect.hit import Hit
from trailguard.enrich.awsranges import AWS_FORMAT, parse_aws_ranges
from trailguard.enrich.enricher import Enricher
from trailguard.enrich.entries import ListEntries
from trailguard.enrich.geo import GeoLookup
from trailguard.enrich.listformats import parse_list, sniff_format
from trailguard.enrich.lists import IntelList, ListSpec
from trailguard.errors import ConfigError, IntelError, SourceError
from trailguard.sources.fetch import Fetched, redact

if TYPE_CHECKING:
    from trailguard.findings.intel_store import IntelStore

CHANGE_TYPE: Final = "Stealth:Trailguard/IntelListChanged"
CHANGE_DETECTION: Final = "intel_list_changed"

Fetcher = Callable[..., Fetched]


@dataclass(frozen=True, slots=True)
class UpdateResult:
    name: str
    outcome: Literal["added", "replaced", "unchanged", "not-modified", "failed", "skipped"]
    entries: int = 0
    bad_lines: int = 0
    message: str = ""
    bad_examples: tuple[str, ...] = ()


def parse(spec: ListSpec, data: bytes) -> tuple[ListEntries, str]:
    """Parse ``data`` as ``spec`` says (sniffing the format for ``auto``)."""
    where = redact(spec.location)
    fmt = spec.format
    if fmt == "AUTO" and b'"syncToken"' in data[:200] and b'"prefixes"' in data:
        fmt = AWS_FORMAT
    if fmt == "AUTO":
        sniffed = sniff_format(data, spec.location)
        if sniffed is None:
            raise IntelError(f"{where}: cannot tell the list's format; pass --format")
        fmt = sniffed
    if fmt == AWS_FORMAT:
        return parse_aws_ranges(data, source=where), fmt
    return parse_list(data, fmt, source=where, csv_column=spec.csv_column), fmt


def _usable(entries: ListEntries, where: str) -> None:
    if len(entries) == 0:
        raise IntelError(
            f"{where}: no usable entries ({entries.bad_count} bad lines) - "
            "keeping the last good copy"
        )
    if entries.bad_count > len(entries):
        raise IntelError(
            f"{where}: more bad lines ({entries.bad_count}) than entries ({len(entries)}) - "
            "not a list in this format? keeping the last good copy"
        )


def _bad_examples(entries: ListEntries, limit: int = 5) -> tuple[str, ...]:
    return tuple(f"line {b.line}: {b.reason}: {b.text}" for b in entries.bad[:limit])


class IntelManager:
    """Adds, updates and removes the lists of one store."""

    def __init__(
        self,
        store: IntelStore,
        fetch: Fetcher,
        *,
        clock: Callable[[], float],
        trigger: str = "cli",
    ) -> None:
        self.store = store
        self.fetch = fetch
        self.clock = clock
        self.trigger = trigger

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def add(self, spec: ListSpec, *, replace_existing: bool = False) -> UpdateResult:
        spec = spec.check()
        old = self.store.get(spec.name)
        if old is not None and not replace_existing:
            raise ConfigError(
                f"a list named {spec.name!r} exists; remove it first or use --replace"
            )
        fetched = self.fetch(spec.location)
        assert fetched.data is not None  # no validators sent: never "not modified"
        return self._accept(spec, old, fetched)

    def update(
        self, names: Iterable[str] | None = None, *, force: bool = False
    ) -> list[UpdateResult]:
        """Re-fetch lists: the named ones, else every list with a refresh interval that is due."""
        now = self._now()
        wanted = set(names) if names is not None else None
        results = []
        known = {m.name: m for m in self.store.lists()}
        if wanted is not None:
            for missing in sorted(wanted - known.keys()):
                results.append(UpdateResult(missing, "failed", message="no such list"))
        for meta in known.values():
            if wanted is not None and meta.name not in wanted:
                continue
            due = meta.refresh_seconds is not None and (
                now - meta.checked_at >= meta.refresh_seconds * 1000
            )
            if wanted is None and not (due or force):
                results.append(UpdateResult(meta.name, "skipped", meta.entries, meta.bad_lines))
                continue
            results.append(self._refresh(meta, now))
        return results

    def sync_feeds(self, feeds: Iterable[ListSpec]) -> list[UpdateResult]:
        """Add configured feeds that are not in the store yet (their first fetch)."""
        results = []
        for spec in feeds:
            spec = spec.check()
            old = self.store.get(spec.name)
            if old is not None and _same_source(old, spec):
                continue
            try:
                results.append(self.add(spec, replace_existing=True))
            except (SourceError, IntelError) as exc:
                results.append(UpdateResult(spec.name, "failed", message=str(exc)))
        return results

    def remove(self, name: str) -> bool:
        old = self.store.get(name)
        if old is None:
            return False
        detail = _detail(old, None, self.trigger)
        now = self._now()
        return self.store.remove(
            name, detail=detail, hits=[change_hit(old, "removed", detail, now)], now_ms=now
        )

    def _refresh(self, meta: IntelList, now: int) -> UpdateResult:
        spec = meta.spec()
        try:
            fetched = self.fetch(meta.location, etag=meta.etag, last_modified=meta.last_modified)
        except SourceError as exc:
            self.store.note_check(meta.name, checked_at=now, last_error=str(exc))
            return UpdateResult(meta.name, "failed", meta.entries, meta.bad_lines, str(exc))
        if fetched.not_modified:
            self.store.note_check(
                meta.name,
                checked_at=now,
                last_error=None,
                refreshed_at=now,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
            return UpdateResult(meta.name, "not-modified", meta.entries, meta.bad_lines)
        try:
            return self._accept(spec, meta, fetched)
        except IntelError as exc:
            self.store.note_check(meta.name, checked_at=now, last_error=str(exc))
            return UpdateResult(meta.name, "failed", meta.entries, meta.bad_lines, str(exc))

    def _accept(self, spec: ListSpec, old: IntelList | None, fetched: Fetched) -> UpdateResult:
        assert fetched.data is not None
        data = fetched.data
        entries, fmt = parse(spec, data)
        _usable(entries, redact(spec.location))
        now = self._now()
        sha = hashlib.sha256(data).hexdigest()
        meta = IntelList(
            name=spec.name,
            kind=spec.kind,
            category=spec.category,
            format=fmt if spec.format == "AUTO" else spec.format,
            location=spec.location,
            csv_column=spec.csv_column,
            feed=spec.feed,
            refresh_seconds=spec.refresh_seconds,
            entries=len(entries),
            bad_lines=entries.bad_count,
            sha256=sha,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            added_at=old.added_at if old else now,
            refreshed_at=now,
            checked_at=now,
            last_error=None,
        )
        examples = _bad_examples(entries)
        if old is not None and old.sha256 == sha and _same_meaning(old, meta):
            if (old.feed, old.refresh_seconds) != (meta.feed, meta.refresh_seconds):
                self.store.set_schedule(
                    spec.name, feed=meta.feed, refresh_seconds=meta.refresh_seconds
                )
            self.store.note_check(
                spec.name,
                checked_at=now,
                last_error=None,
                refreshed_at=now,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
            return UpdateResult(
                spec.name, "unchanged", len(entries), entries.bad_count, "", examples
            )
        change: Literal["added", "replaced"] = "added" if old is None else "replaced"
        detail = _detail(old, meta, self.trigger)
        self.store.put(
            meta,
            data,
            change=change,
            detail=detail,
            hits=[change_hit(meta, change, detail, now)],
            now_ms=now,
        )
        return UpdateResult(spec.name, change, len(entries), entries.bad_count, "", examples)


def _same_meaning(old: IntelList, new: IntelList) -> bool:
    """Whether the same content means the same to the detector under both descriptions.

    Kind, category, format, column or location changing is a change to the list (recorded,
    and raises a finding) even when the bytes are the same.
    """
    return (old.kind, old.category, old.format, old.csv_column, old.location) == (
        new.kind,
        new.category,
        new.format,
        new.csv_column,
        new.location,
    )


def _same_source(old: IntelList, spec: ListSpec) -> bool:
    return (old.location, old.kind, old.category, old.csv_column, old.refresh_seconds) == (
        spec.location,
        spec.kind,
        spec.category,
        spec.csv_column,
        spec.refresh_seconds,
    ) and spec.format in ("AUTO", old.format)


def load_enricher(store: IntelStore, geo: GeoLookup | None = None) -> Enricher:
    """An enricher over every list in ``store`` (lists that no longer parse are skipped)."""
    threat: dict[str, list[tuple[str, ListEntries]]] = {}
    trusted: list[tuple[str, ListEntries]] = []
    aws: list[tuple[str, ListEntries]] = []
    for meta in store.lists():
        try:
            entries, _ = parse(meta.spec(), store.data(meta.name))
        except IntelError:
            continue  # it parsed when stored; a format change since must not stop a scan
        if meta.kind == "trusted":
            trusted.append((meta.name, entries))
        elif meta.kind == "aws":
            aws.append((meta.name, entries))
        else:
            threat.setdefault(meta.category or "custom", []).append((meta.name, entries))
    return Enricher(threat, trusted, aws, geo)


def _detail(old: IntelList | None, new: IntelList | None, trigger: str) -> dict[str, Any]:
    some = new or old
    assert some is not None
    return {
        "name": some.name,
        "kind": some.kind,
        "category": some.category,
        "location": redact(some.location),
        "trigger": trigger,
        "previousEntries": old.entries if old else None,
        "previousSha256": old.sha256 if old else None,
        "entries": new.entries if new else None,
        "sha256": new.sha256 if new else None,
    }


def change_hit(meta: IntelList, change: str, detail: dict[str, Any], now_ms: int) -> Hit:
    """The ``Stealth:Trailguard/IntelListChanged`` occurrence of one change."""
    at = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    before, after = detail["previousEntries"], detail["entries"]
    counts = {
        "added": f"with {after} entries",
        "replaced": f"({before} -> {after} entries)",
        "removed": f"(it had {before} entries)",
    }[change]
    # trusted lists matter most: an entry added there silences findings
    severity = 3.0 if meta.kind == "trusted" else 2.0
    return Hit(
        detection_id=CHANGE_DETECTION,
        finding_type=CHANGE_TYPE,
        severity=severity,
        title=f"The {meta.kind} list {meta.name} was {change}.",
        description=(
            f"The {meta.kind} list {meta.name} ({redact(meta.location)}) was {change} {counts} "
            f"by {detail['trigger']}. Changing what the detector trusts or looks for can "
            "blind it; check that this change was intended."
        ),
        account_id="local",
        region="global",
        resource_type="IntelList",
        resource_key=meta.name,
        actor_key=detail["trigger"],
        resource={
            "resourceType": "IntelList",
            "intelListDetails": {
                "name": meta.name,
                "kind": meta.kind,
                "category": meta.category,
                "location": redact(meta.location),
            },
        },
        action={
            "actionType": "INTEL_LIST_CHANGE",
            "intelListChangeAction": {"change": change, **detail},
        },
        first_seen=at,
        last_seen=at,
        event_key=f"{meta.name}:{change}:{now_ms}:{detail['sha256'] or ''}",
        object=f"intel:{meta.name}",
        position=change,
        feature="Trailguard",
        resource_role="TARGET",
    )
