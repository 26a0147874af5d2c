"""The store: findings, their occurrences, quarantine, checkpoints and detection state.

SQLite in WAL mode by default (one file that ``scan``, ``run``, ``serve`` and
``findings`` can use from separate processes at once); the same schema through
SQLAlchemy Core on PostgreSQL (``postgresql+psycopg://...``), with the same answers:
text compares and sorts byte by byte there too (``COLLATE "C"``), may hold NUL
characters (escaped, see :class:`_Text`), and writers take turns (an advisory lock),
as SQLite's single writer does.  The unit of commit is a source object:
:meth:`Store.commit_object` writes the occurrences it produced, the findings
they change, the window state it changed, its rejects and its checkpoint in
one transaction, so a crash between objects loses nothing and double-counts
nothing.

Aggregation is derived, not accumulated: ``finding_events`` holds one row per
distinct occurrence (keyed by the event's own id), and a finding's ``count``,
``eventFirstSeen`` and ``eventLastSeen`` are recomputed from it.  That is what
makes a scan idempotent: an event delivered twice, or in another order, or in
another batch, is the same row.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from trailguard.detect.hit import Hit
from trailguard.detect.windows import WindowDelta, from_ipc, to_ipc
from trailguard.errors import StoreError
from trailguard.findings.model import build_finding, finding_id, iso, severity_floor, to_ms
from trailguard.formats.base import Reject

# the two characters PostgreSQL's text cannot hold or that stand for them there
_NUL, _ESC = "\x00", "\ufdd0"  # U+FDD0: a noncharacter, never in interchanged text


class _Text(sa.types.TypeDecorator[str]):
    """Text that behaves on PostgreSQL as on SQLite.

    - compared and sorted by code point (``COLLATE "C"``), as SQLite's BINARY collation
      and Python do, whatever the database's own collation (usually a language's);
    - NUL characters, which PostgreSQL's text cannot hold and log text (attacker-controlled)
      may contain, are stored escaped, reversibly: NUL as U+FDD0 "0", U+FDD0 as U+FDD0 "1".
      Bound parameters compared with a column are escaped the same way, so equality and
      LIKE work on the original text.

    On SQLite it is plain ``TEXT``.
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return sa.Text(collation="C")  # as it is: adapted, it would be VARCHAR
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        if _NUL not in value and _ESC not in value:
            return value
        return value.replace(_ESC, _ESC + "1").replace(_NUL, _ESC + "0")

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None or _ESC not in value or dialect.name != "postgresql":
            return value
        parts = value.split(_ESC)
        return parts[0] + "".join(_UNESCAPE.get(p[:1], _ESC + p[:1]) + p[1:] for p in parts[1:])


_UNESCAPE: Final = {"0": _NUL, "1": _ESC}


# an id that grows with every write: INTEGER (SQLite's rowid alias) there, BIGINT elsewhere
_RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("type", _Text, nullable=False, index=True),
    sa.Column("detection_id", _Text, nullable=False),
    sa.Column("severity", sa.Float, nullable=False, index=True),
    sa.Column("account_id", _Text, nullable=False, index=True),
    sa.Column("region", _Text, nullable=False),
    sa.Column("resource_type", _Text, nullable=False),
    sa.Column("resource_key", _Text, nullable=False),
    sa.Column("actor_key", _Text, nullable=False),
    sa.Column("title", _Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("first_key", _Text, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False, index=True),
    sa.Column("latest_key", _Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("doc", _Text, nullable=False),
)

finding_events = sa.Table(
    "finding_events",
    metadata,
    sa.Column("finding_id", sa.String(32), primary_key=True),
    sa.Column("event_key", _Text, primary_key=True),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("object", _Text, nullable=False),
    sa.Column("position", _Text, nullable=False),
    sa.Column("hit", _Text, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("object", _Text, primary_key=True),
    sa.Column("version", _Text, nullable=False),
    sa.Column("kind", _Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("rejected", sa.BigInteger, nullable=False),
    sa.Column("failed", sa.Boolean, nullable=False),
    sa.Column("committed_at", sa.BigInteger, nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("object", _Text, nullable=False, index=True),
    sa.Column("version", _Text, nullable=False),
    sa.Column("position", _Text, nullable=False),
    sa.Column("reason", _Text, nullable=False),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
)

window_deltas = sa.Table(
    "window_deltas",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("detection_id", _Text, nullable=False, index=True),
    sa.Column("snapshot", sa.Boolean, nullable=False),
    sa.Column("window_values", sa.LargeBinary, nullable=False),
    sa.Column("cells", sa.LargeBinary, nullable=False),
)

# threat, trusted and AWS-range lists: what each is, and its last good copy
intel_lists = sa.Table(
    "intel_lists",
    metadata,
    sa.Column("name", _Text, primary_key=True),
    sa.Column("kind", _Text, nullable=False),
    sa.Column("category", _Text, nullable=False),
    sa.Column("format", _Text, nullable=False),
    sa.Column("location", _Text, nullable=False),
    sa.Column("csv_column", _Text),
    sa.Column("feed", sa.Boolean, nullable=False, default=False),
    sa.Column("refresh_seconds", sa.Integer),
    sa.Column("entries", sa.BigInteger, nullable=False),
    sa.Column("bad_lines", sa.BigInteger, nullable=False),
    sa.Column("sha256", _Text, nullable=False),
    sa.Column("etag", _Text),
    sa.Column("last_modified", _Text),
    sa.Column("added_at", sa.BigInteger, nullable=False),
    sa.Column("refreshed_at", sa.BigInteger, nullable=False),
    sa.Column("checked_at", sa.BigInteger, nullable=False),
    sa.Column("last_error", _Text),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# every change to a list (added, replaced, removed): the audit trail of the detector's inputs
intel_changes = sa.Table(
    "intel_changes",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("name", _Text, nullable=False, index=True),
    sa.Column("change", _Text, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("detail", _Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class FindingFilter:
    """Filters for listing findings; every field is optional."""

    min_severity: str | None = None
    types: Sequence[str] = ()
    account_id: str | None = None
    region: str | None = None
    resource: str | None = None
    since_ms: int | None = None
    archived: bool | None = False
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class _Tally:
    """What a finding's row says before a commit folds new occurrences in."""

    count: int
    created: int
    archived: bool
    first: tuple[int, str]
    latest: tuple[int, str]


@dataclass(frozen=True, slots=True)
class CommitResult:
    new: list[str]
    updated: list[str]
    delta_ids: list[int] = field(default_factory=list)


#: values bound in one ``IN (...)`` at most (see :func:`_chunks`)
_IN_SLICE: Final = 1000
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ObjectCommit:
    """One object's results, as :meth:`Store.commit_objects` writes them."""

    name: str
    version: str
    kind: str
    rows: int
    failed: bool
    rejected: int
    rejects: list[Reject]
    hits: list[Hit]
    deltas: list[WindowDelta] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    object: str
    version: str
    position: str
    reason: str
    recorded_at: int


# any number: the key of the PostgreSQL advisory lock that a writing transaction holds
_WRITER_LOCK: Final = 0x7467_7264  # "tgrd"


def take_writer_lock(conn: Connection) -> None:
    """Make this transaction the only one writing findings until it ends; call it first.

    A commit reads a finding's tally and writes it back: two at once must not both start
    from the same tally.  On PostgreSQL the transaction takes an advisory lock (released at
    commit or rollback).  SQLite has one writer at a time, but Python's sqlite3 begins the
    transaction only at the first write, after the reads it was computed from: so it
    begins here, taking the write lock (waiting up to the busy timeout for it).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_WRITER_LOCK)))
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _hide(exc: BaseException, url_or_path: str | Path) -> str:
    """The error's text without the password of the store's URL, if it had one."""
    text = str(exc)
    try:
        password = sa.make_url(str(url_or_path)).password if "://" in str(url_or_path) else None
    except (sa.exc.ArgumentError, ValueError):
        return text
    return text.replace(str(password), "***") if password else text


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_HIT_FIELDS: Final = tuple(f.name for f in fields(Hit) if f.name not in ("first_seen", "last_seen"))


def _hit_json(hit: Hit) -> str:
    # a hit's members are JSON-ready already (dicts, lists, strings, numbers)
    return json.dumps({n: getattr(hit, n) for n in _HIT_FIELDS}, sort_keys=True, default=str)


class Store:
    """Repository over one database.  Open with :meth:`open`; pass a ``clock`` in tests."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._upserts: dict[tuple[str, tuple[str, ...]], Any] = {}

    @classmethod
    def open(cls, url_or_path: str | Path) -> Store:
        """Open (creating its tables if need be) a SQLite file, or a database by URL.

        ``postgresql://`` URLs use the psycopg driver.  Errors never show the URL's password.
        """
        text = shown = str(url_or_path)
        engine: Engine | None = None
        try:
            if "://" not in text:
                path = Path(text).expanduser()
                path.parent.mkdir(parents=True, exist_ok=True)
                text = shown = f"sqlite:///{path}"
            url = sa.make_url(text)
            shown = url.render_as_string(hide_password=True)
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")  # the driver the docs name
            if url.get_backend_name() == "postgresql":
                # a server restart must not break a long-running process's pooled connections
                engine = sa.create_engine(url, pool_pre_ping=True)
            else:
                engine = sa.create_engine(url)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    take_writer_lock(conn)  # two processes creating the tables at once
                metadata.create_all(conn)
        except ImportError as exc:
            raise StoreError(
                f"cannot open store {shown}: its database driver is not installed ({exc}); "
                "for PostgreSQL: pip install 'psycopg[binary]'"
            ) from exc
        except (sa.exc.SQLAlchemyError, OSError, ValueError) as exc:
            if engine is not None:
                engine.dispose()
            raise StoreError(f"cannot open store {shown}: {_hide(exc, url_or_path)}") from exc
        store = cls(engine)
        # a store dropped without close() still closes its connections (a server's are
        # scarce), when it is collected rather than whenever its pool happens to be
        weakref.finalize(store, engine.dispose)
        return store

    def close(self) -> None:
        self.engine.dispose()

    # --- dialect-neutral upsert -------------------------------------------------------

    def _upsert(
        self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: Sequence[str]
    ) -> None:
        if not rows:
            return
        stmt = self._upserts.get((table.name, tuple(keys)))
        if stmt is None:
            stmt = self._upserts[(table.name, tuple(keys))] = self._upsert_stmt(table, keys)
        conn.execute(stmt, rows)

    def _upsert_stmt(self, table: sa.Table, keys: Sequence[str]) -> Any:
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt: Any = sqlite_insert(table)
        elif self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table)
        else:  # pragma: no cover - other databases are not supported yet
            raise StoreError(f"unsupported database dialect {self.dialect}")
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        return stmt.on_conflict_do_update(index_elements=list(keys), set_=update)

    # --- checkpoints ------------------------------------------------------------------

    def is_committed(self, name: str, version: str) -> bool:
        with self.engine.connect() as conn:
            got = conn.execute(
                sa.select(checkpoints.c.version).where(checkpoints.c.object == name)
            ).scalar()
        return got == version

    def checkpoint_versions(self) -> dict[str, tuple[str, int]]:
        """Every committed object: its version and how many of its records were rejected."""
        c = checkpoints.c
        with self.engine.connect() as conn:
            return {
                r[0]: (r[1], int(r[2]))
                for r in conn.execute(sa.select(c.object, c.version, c.rejected))
            }

    # --- the unit of commit -----------------------------------------------------------

    def commit_object(
        self,
        *,
        name: str,
        version: str,
        kind: str,
        rows: int,
        failed: bool,
        rejected: int,
        rejects: Iterable[Reject],
        hits: Iterable[Hit],
        deltas: Iterable[WindowDelta] = (),
        now_ms: int,
    ) -> CommitResult:
        """Write one object's results and checkpoint atomically."""
        return self.commit_objects(
            [
                ObjectCommit(
                    name=name,
                    version=version,
                    kind=kind,
                    rows=rows,
                    failed=failed,
                    rejected=rejected,
                    rejects=list(rejects),
                    hits=list(hits),
                    deltas=list(deltas),
                )
            ],
            now_ms=now_ms,
        )

    def commit_objects(self, objects: Sequence[ObjectCommit], *, now_ms: int) -> CommitResult:
        """Write several objects' results and checkpoints in one transaction.

        Each object stays all-or-nothing (so an object scanned twice is never counted
        twice); a scan commits the small objects it ran together at once, because a
        transaction's fixed cost outweighs a small object's writes.  The findings are
        the same as committing the objects one after the other, in order.
        """
        if not objects:
            return CommitResult([], [])
        # an object given twice (overlapping paths): its last reading's quarantine and
        # checkpoint stand, as when each was committed in turn
        last = list({o.name: o for o in objects}.values())
        names = [o.name for o in last]
        try:
            with self.engine.begin() as conn:
                take_writer_lock(conn)
                result = self._write_hits(conn, [h for o in objects for h in o.hits], now_ms)
                delta_ids = self._write_deltas(conn, [d for o in objects for d in o.deltas])
                for part in _chunks(names):
                    conn.execute(quarantine.delete().where(quarantine.c.object.in_(part)))
                q = [
                    {
                        "object": r.object,
                        "version": o.version,
                        "position": r.position,
                        "reason": r.reason,
                        "recorded_at": now_ms,
                    }
                    for o in last
                    for r in o.rejects
                ]
                if q:
                    conn.execute(quarantine.insert(), q)
                self._upsert(
                    conn,
                    checkpoints,
                    [
                        {
                            "object": o.name,
                            "version": o.version,
                            "kind": o.kind,
                            "rows": o.rows,
                            "rejected": o.rejected,
                            "failed": o.failed,
                            "committed_at": now_ms,
                        }
                        for o in last
                    ],
                    ("object",),
                )
        except sa.exc.SQLAlchemyError as exc:
            what = names[0] if len(names) == 1 else f"{len(names)} objects ({names[0]} …)"
            raise StoreError(f"cannot commit {what}: {exc}") from exc
        return replace(result, delta_ids=delta_ids)

    def record_hits(self, hits: Iterable[Hit], now_ms: int) -> CommitResult:
        """Aggregate hits that come from no log object (integrity, posture, intel changes).

        One transaction; the same aggregation and de-duplication (by ``event_key``) as
        :meth:`commit_object`, without a checkpoint.
        """
        try:
            with self.engine.begin() as conn:
                take_writer_lock(conn)
                return self._write_hits(conn, list(hits), now_ms)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot record findings: {exc}") from exc

    def _write_hits(self, conn: Connection, hits: list[Hit], now_ms: int) -> CommitResult:
        if not hits:
            return CommitResult([], [])
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for h in hits:
            fid = finding_id(h.finding_type, h.account_id, h.region, h.resource_key, h.actor_key)
            first, last = to_ms(h.first_seen), to_ms(h.last_seen)
            key = (fid, h.event_key)
            prev = rows.get(key)
            if prev is not None:
                # the same occurrence twice in one object: keep the widest span
                first, last = min(first, prev["first_seen"]), max(last, prev["last_seen"])
                if (prev["object"], prev["position"]) < (h.object, h.position):
                    h = replace(h, object=prev["object"], position=prev["position"])
            rows[key] = {
                "finding_id": fid,
                "event_key": h.event_key,
                "first_seen": first,
                "last_seen": last,
                "object": h.object,
                "position": h.position,
                "hit": _hit_json(h),
            }
        ids = sorted({fid for fid, _ in rows})
        before = self._before(conn, ids)
        fe = finding_events.c
        existing: dict[tuple[str, str], tuple[int, int, str, str]] = {}
        keys = list(rows)
        for part in _chunks(keys):
            for r in conn.execute(
                sa.select(
                    fe.finding_id, fe.event_key, fe.first_seen, fe.last_seen, fe.object, fe.position
                ).where(sa.tuple_(fe.finding_id, fe.event_key).in_(part))
            ):
                existing[(r[0], r[1])] = (int(r[2]), int(r[3]), r[4], r[5])
        for key, row in rows.items():
            if key in existing:
                f, la, o, p = existing[key]
                row["first_seen"] = min(row["first_seen"], f)
                row["last_seen"] = max(row["last_seen"], la)
                # one event delivered in several objects: cite the same one whatever the order
                if (o, p) < (row["object"], row["position"]):
                    row["object"], row["position"] = o, p
        self._upsert(conn, finding_events, list(rows.values()), ("finding_id", "event_key"))
        by_finding: dict[str, list[dict[str, Any]]] = {}
        for (fid, ekey), row in rows.items():
            row["_new"] = (fid, ekey) not in existing
            by_finding.setdefault(fid, []).append(row)
        self._refresh(conn, by_finding, before, now_ms)
        return CommitResult([f for f in ids if f not in before], [f for f in ids if f in before])

    def _before(self, conn: Connection, ids: list[str]) -> dict[str, _Tally]:
        c = findings.c
        out: dict[str, _Tally] = {}
        for part in _chunks(ids):
            for r in conn.execute(
                sa.select(
                    c.id,
                    c.count,
                    c.created_at,
                    c.archived,
                    c.first_seen,
                    c.first_key,
                    c.last_seen,
                    c.latest_key,
                ).where(c.id.in_(part))
            ):
                out[r[0]] = _Tally(
                    int(r[1]), int(r[2]), bool(r[3]), (int(r[4]), r[5]), (int(r[6]), r[7])
                )
        return out

    def _refresh(
        self,
        conn: Connection,
        by_finding: dict[str, list[dict[str, Any]]],
        before: dict[str, _Tally],
        now_ms: int,
    ) -> None:
        """Fold new occurrences into their findings, incrementally: O(new occurrences).

        An occurrence's span only ever widens, so the running count, min, max and
        the (time, key) of the first and latest occurrence stay exact.
        """
        fe = finding_events.c
        out = []
        for fid, new_rows in by_finding.items():
            prev = before.get(fid)
            first = min((r["first_seen"], r["event_key"]) for r in new_rows)
            latest = max((r["last_seen"], r["event_key"]) for r in new_rows)
            added = sum(1 for r in new_rows if r["_new"])
            if prev is not None:
                first = min(first, prev.first)
                latest = max(latest, prev.latest)
            count = (prev.count if prev else 0) + added
            picked: dict[str, dict[str, Any]] = {r["event_key"]: r for r in new_rows}
            for key in (first[1], latest[1]):
                if key not in picked:
                    r = conn.execute(
                        sa.select(fe.hit, fe.object, fe.position).where(
                            (fe.finding_id == fid) & (fe.event_key == key)
                        )
                    ).one()
                    picked[key] = {"hit": r[0], "object": r[1], "position": r[2]}
            latest_row, first_row = picked[latest[1]], picked[first[1]]
            hit = json.loads(latest_row["hit"])
            created = prev.created if prev else now_ms
            # a new occurrence of an archived finding brings it back (as GuardDuty does)
            archived = prev.archived and added == 0 if prev else False
            doc = build_finding(
                fid=fid,
                latest=hit,
                count=count,
                first_ms=first[0],
                last_ms=latest[0],
                created_ms=created,
                updated_ms=now_ms,
                archived=archived,
                evidence={
                    **(
                        {"threatIntelligenceDetails": hit["threat_intelligence"]}
                        if hit.get("threat_intelligence")
                        else {}
                    ),
                    "firstOccurrence": {
                        "object": first_row["object"],
                        "position": first_row["position"],
                    },
                    "latestOccurrence": {
                        "object": latest_row["object"],
                        "position": latest_row["position"],
                    },
                },
            )
            out.append(
                {
                    "id": fid,
                    "type": hit["finding_type"],
                    "detection_id": hit["detection_id"],
                    "severity": hit["severity"],
                    "account_id": hit["account_id"],
                    "region": hit["region"],
                    "resource_type": hit["resource_type"],
                    "resource_key": hit["resource_key"],
                    "actor_key": hit["actor_key"],
                    "title": hit["title"],
                    "count": count,
                    "first_seen": first[0],
                    "first_key": first[1],
                    "last_seen": latest[0],
                    "latest_key": latest[1],
                    "created_at": created,
                    "updated_at": now_ms,
                    "archived": archived,
                    "doc": json.dumps(doc, sort_keys=True),
                }
            )
        self._upsert(conn, findings, out, ("id",))

    # --- window state -----------------------------------------------------------------

    @staticmethod
    def _write_deltas(conn: Connection, deltas: Iterable[WindowDelta]) -> list[int]:
        ids = []
        for d in deltas:
            if d.empty and not d.snapshot:
                continue
            res = conn.execute(
                window_deltas.insert().values(
                    detection_id=d.detection_id,
                    snapshot=d.snapshot,
                    window_values=to_ipc(d.values),
                    cells=to_ipc(d.cells),
                )
            )
            key = res.inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
        return ids

    def load_windows(self, detection_ids: Sequence[str]) -> tuple[list[WindowDelta], list[int]]:
        """Saved window state of these detections, oldest first, and the rows it came from."""
        ids, deltas = self.iter_windows(detection_ids)
        return list(deltas), ids

    def iter_windows(self, detection_ids: Sequence[str]) -> tuple[list[int], Iterator[WindowDelta]]:
        """The delta rows of these detections, and an iterator that reads them one at a
        time (oldest first), so that loading needs no more memory than one of them."""
        if not detection_ids:
            return [], iter(())
        wd = window_deltas.c
        with self.engine.connect() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    sa.select(wd.id).where(wd.detection_id.in_(list(detection_ids))).order_by(wd.id)
                )
            ]
        return ids, self._read_deltas(ids)

    def _read_deltas(self, ids: list[int]) -> Iterator[WindowDelta]:
        wd = window_deltas.c
        for delta_id in ids:
            with self.engine.connect() as conn:
                r = conn.execute(
                    sa.select(wd.detection_id, wd.snapshot, wd.window_values, wd.cells).where(
                        wd.id == delta_id
                    )
                ).one_or_none()
            if r is not None:  # compacted away by another process meanwhile
                yield WindowDelta(r[0], from_ipc(r[2]), from_ipc(r[3]), bool(r[1]))

    def compact_windows(self, snapshots: Iterable[WindowDelta], replaces: Sequence[int]) -> None:
        """Swap the delta rows ``replaces`` for ``snapshots`` (which include them) atomically.

        Rows written meanwhile by another process are not in ``replaces`` and stay.
        """
        try:
            with self.engine.begin() as conn:
                for chunk in _chunks(replaces):
                    conn.execute(window_deltas.delete().where(window_deltas.c.id.in_(chunk)))
                self._write_deltas(conn, snapshots)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot compact window state: {exc}") from exc

    # --- reading findings -------------------------------------------------------------

    def _where(self, f: FindingFilter) -> list[Any]:
        c = findings.c
        cond: list[Any] = []
        if f.min_severity:
            cond.append(c.severity >= severity_floor(f.min_severity))
        if f.types:
            cond.append(c.type.in_(list(f.types)))
        if f.account_id:
            cond.append(c.account_id == f.account_id)
        if f.region:
            cond.append(c.region == f.region)
        if f.resource:
            # ignoring ASCII case, as SQLite's LIKE does, on every database
            cond.append(c.resource_key.icontains(f.resource, autoescape=True))
        if f.since_ms is not None:
            cond.append(c.last_seen >= f.since_ms)
        if f.archived is not None:
            cond.append(c.archived == f.archived)
        return cond

    def list_findings(self, f: FindingFilter = FindingFilter()) -> list[dict[str, Any]]:
        c = findings.c
        q = (
            sa.select(c.doc)
            .where(*self._where(f))
            .order_by(c.severity.desc(), c.last_seen.desc(), c.id)
        )
        if f.limit:
            q = q.limit(f.limit)
        with self.engine.connect() as conn:
            return [json.loads(r.doc) for r in conn.execute(q)]

    def get_finding(self, fid: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            doc = conn.execute(sa.select(findings.c.doc).where(findings.c.id == fid)).scalar()
        return json.loads(doc) if doc else None

    def find_ids(self, prefix: str) -> list[str]:
        with self.engine.connect() as conn:
            return [
                r.id
                for r in conn.execute(
                    sa.select(findings.c.id)
                    .where(findings.c.id.istartswith(prefix, autoescape=True))
                    .limit(10)
                )
            ]

    def set_archived(self, ids: Sequence[str], archived: bool, now_ms: int) -> int:
        n = 0
        with self.engine.begin() as conn:
            take_writer_lock(conn)  # read, change and write back each finding's document
            for fid in ids:
                doc = conn.execute(sa.select(findings.c.doc).where(findings.c.id == fid)).scalar()
                if doc is None:
                    continue
                d = json.loads(doc)
                d["service"]["archived"] = archived
                d["updatedAt"] = iso(now_ms)
                conn.execute(
                    findings.update()
                    .where(findings.c.id == fid)
                    .values(archived=archived, updated_at=now_ms, doc=json.dumps(d, sort_keys=True))
                )
                n += 1
        return n

    def has_active_findings(self, objects: Sequence[str], min_severity: float) -> bool:
        """True if an active finding at or above ``min_severity`` has an occurrence in
        one of ``objects``."""
        fe, f = finding_events.c, findings.c
        with self.engine.connect() as conn:
            for chunk in _chunks(objects):
                q = (
                    sa.select(f.id)
                    .join(finding_events, fe.finding_id == f.id)
                    .where(fe.object.in_(list(chunk)))
                    .where(f.severity >= min_severity, f.archived.is_(False))
                    .limit(1)
                )
                if conn.execute(q).first() is not None:
                    return True
        return False

    def quarantined(self, limit: int = 1000) -> list[QuarantineEntry]:
        q = quarantine.c
        with self.engine.connect() as conn:
            return [
                QuarantineEntry(r.object, r.version, r.position, r.reason, r.recorded_at)
                for r in conn.execute(
                    sa.select(q.object, q.version, q.position, q.reason, q.recorded_at)
                    .order_by(q.object, q.id)
                    .limit(limit)
                )
            ]


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """``items`` in slices of :data:`_IN_SLICE`: one statement may bind only so many
    values (SQLite 32,766, PostgreSQL 65,535)."""
    for i in range(0, len(items), _IN_SLICE):
        yield items[i : i + _IN_SLICE]
