"""Threat, trusted and AWS-range lists in the store: their metadata, last good copy and changes.

A list's content is kept (gzip-compressed) as the last copy that parsed, so a feed that
later fails or returns garbage leaves the detector with what it had.  Every change -
added, replaced, removed - is written with the change record and its
``Stealth:Trailguard/IntelListChanged`` occurrence in one transaction: editing the allow
list is itself evidence.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from trailguard.detect.hit import Hit
from trailguard.enrich.lists import IntelList
from trailguard.errors import StoreError
from trailguard.findings.store import Store, intel_changes, intel_lists, take_writer_lock

_META_COLUMNS = [intel_lists.c[f.name] for f in fields(IntelList)]


@dataclass(frozen=True, slots=True)
class IntelChange:
    id: int
    name: str
    change: str
    at: int
    detail: dict[str, Any]


class IntelStore:
    """The lists of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def lists(self) -> list[IntelList]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(*_META_COLUMNS).order_by(intel_lists.c.name))
            return [IntelList(**r._mapping) for r in rows]

    def get(self, name: str) -> IntelList | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(*_META_COLUMNS).where(intel_lists.c.name == name)).first()
        return IntelList(**row._mapping) if row else None

    def data(self, name: str) -> bytes:
        """The list's last good content, as fetched."""
        with self._connect() as conn:
            blob = conn.execute(
                sa.select(intel_lists.c.data).where(intel_lists.c.name == name)
            ).scalar()
        if blob is None:
            raise StoreError(f"no intel list named {name!r}")
        return gzip.decompress(blob)

    def put(
        self,
        meta: IntelList,
        data: bytes,
        *,
        change: str,
        detail: dict[str, Any],
        hits: Iterable[Hit],
        now_ms: int,
    ) -> None:
        """Add or replace a list, record the change and its finding, in one transaction."""
        row = {f.name: getattr(meta, f.name) for f in fields(IntelList)}
        row["data"] = gzip.compress(data, compresslevel=6, mtime=0)
        try:
            with self.store.engine.begin() as conn:
                take_writer_lock(conn)  # its finding is aggregated like any other
                conn.execute(intel_lists.delete().where(intel_lists.c.name == meta.name))
                conn.execute(intel_lists.insert(), [row])
                self._change(conn, meta.name, change, detail, now_ms)
                self.store._write_hits(conn, list(hits), now_ms)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot save intel list {meta.name}: {exc}") from exc

    def note_check(
        self,
        name: str,
        *,
        checked_at: int,
        last_error: str | None,
        refreshed_at: int | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Record a check that did not change the content (not modified, or failed)."""
        values: dict[str, Any] = {"checked_at": checked_at, "last_error": last_error}
        if refreshed_at is not None:
            values["refreshed_at"] = refreshed_at
        if etag is not None:
            values["etag"] = etag
        if last_modified is not None:
            values["last_modified"] = last_modified
        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    intel_lists.update().where(intel_lists.c.name == name).values(**values)
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot update intel list {name}: {exc}") from exc

    def set_schedule(self, name: str, *, feed: bool, refresh_seconds: int | None) -> None:
        """Change whether a list is a configured feed and how often it is re-fetched."""
        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    intel_lists.update()
                    .where(intel_lists.c.name == name)
                    .values(feed=feed, refresh_seconds=refresh_seconds)
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot update intel list {name}: {exc}") from exc

    def remove(
        self, name: str, *, detail: dict[str, Any], hits: Iterable[Hit], now_ms: int
    ) -> bool:
        try:
            with self.store.engine.begin() as conn:
                take_writer_lock(conn)
                gone = conn.execute(intel_lists.delete().where(intel_lists.c.name == name))
                if not gone.rowcount:
                    return False
                self._change(conn, name, "removed", detail, now_ms)
                self.store._write_hits(conn, list(hits), now_ms)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot remove intel list {name}: {exc}") from exc
        return True

    def changes(self, name: str | None = None, limit: int = 100) -> list[IntelChange]:
        c = intel_changes.c
        q = sa.select(c.id, c.name, c.change, c.at, c.detail).order_by(c.id.desc()).limit(limit)
        if name is not None:
            q = q.where(c.name == name)
        with self._connect() as conn:
            return [
                IntelChange(r.id, r.name, r.change, r.at, json.loads(r.detail))
                for r in conn.execute(q)
            ]

    def _change(
        self, conn: sa.Connection, name: str, change: str, detail: dict[str, Any], now_ms: int
    ) -> None:
        conn.execute(
            intel_changes.insert(),
            [{"name": name, "change": change, "at": now_ms, "detail": json.dumps(detail)}],
        )

    def _connect(self) -> sa.Connection:
        try:
            return self.store.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read intel lists: {exc}") from exc
