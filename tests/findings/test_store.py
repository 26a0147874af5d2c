"""The findings store on real databases: aggregation, checkpoints, quarantine, archive,
filters, concurrency and the atomic unit of commit.

Every test that takes the ``store`` (or ``db``, ``new_db``) fixture runs twice: on a SQLite
file and on a fresh database of a real PostgreSQL server (``postgres_server`` in
tests/conftest.py).  Tests about SQLite itself (WAL mode, the file) are marked
``sqlite_only``.  Reading behind the store's back goes through SQLAlchemy on both."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from trailguard.detect.hit import Hit
from trailguard.detect.windows import WindowDelta
from trailguard.errors import StoreError
from trailguard.findings.model import finding_id, iso, to_ms
from trailguard.findings.store import CommitResult, FindingFilter, ObjectCommit, Store
from trailguard.formats.base import Reject

T0 = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
NOW = to_ms(datetime(2026, 11, 3, tzinfo=UTC))

ROOT = "Policy:IAMUser/RootCredentialUsage"
SCAN = "Recon:EC2/Portscan"
REBIND = "UnauthorizedAccess:EC2/MetadataDNSRebind"
CRIT = "Impact:EC2/Test"


def make_hit(
    event_key: str = "e1",
    *,
    at: datetime = T0,
    until: datetime | None = None,
    obj: str = "/logs/a.json",
    position: str = "record 0",
    finding_type: str = ROOT,
    severity: float = 2.0,
    title: str = "API CreateAccessKey was invoked using root credentials.",
    account: str = "111122223333",
    region: str = "us-east-1",
    resource_key: str = "arn:aws:iam::111122223333:root",
    actor_key: str = "",
    api: str = "CreateAccessKey",
    additional_info: dict[str, Any] | None = None,
) -> Hit:
    return Hit(
        detection_id="root_credential_usage",
        finding_type=finding_type,
        severity=severity,
        title=title,
        description=f"{api} was called.",
        account_id=account,
        region=region,
        resource_type="AccessKey",
        resource_key=resource_key,
        actor_key=actor_key,
        resource={
            "resourceType": "AccessKey",
            "accessKeyDetails": {"userName": "Root", "principalId": resource_key},
        },
        action={"actionType": "AWS_API_CALL", "awsApiCallAction": {"api": api}},
        first_seen=at,
        last_seen=until or at,
        event_key=event_key,
        object=obj,
        position=position,
        feature="CloudTrail",
        additional_info=additional_info or {},
    )


def fid_of(h: Hit) -> str:
    return finding_id(h.finding_type, h.account_id, h.region, h.resource_key, h.actor_key)


def commit(
    store: Store,
    name: str,
    hits: Iterable[Hit] = (),
    *,
    version: str = "v1",
    rejects: Iterable[Reject] = (),
    deltas: Iterable[WindowDelta] = (),
    now_ms: int = NOW,
    failed: bool = False,
) -> CommitResult:
    hits = list(hits)
    rejects = list(rejects)
    return store.commit_object(
        name=name,
        version=version,
        kind="cloudtrail",
        rows=len(hits),
        failed=failed,
        rejected=len(rejects),
        rejects=rejects,
        hits=hits,
        deltas=deltas,
        now_ms=now_ms,
    )


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses a store on each backend (``sqlite_only``: on SQLite alone)."""
    if "backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", ["sqlite"] if only_sqlite else BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes a new, empty store location on the test's backend: a file path or a URL."""
    if backend == "postgresql":
        make: Callable[[], str] = request.getfixturevalue("pg_new_database")
        return make
    n = itertools.count()
    return lambda: str(tmp_path / "store" / f"trailguard{next(n) or ''}.db")


@pytest.fixture
def db(new_db: Callable[[], str]) -> str:
    return new_db()


@pytest.fixture
def db_path(db: str, backend: str) -> Path:
    """The SQLite file (for ``sqlite_only`` tests)."""
    assert backend == "sqlite"
    return Path(db)


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    s = Store.open(db)
    try:
        yield s
    finally:
        s.close()


def all_findings(store: Store) -> list[dict[str, Any]]:
    return store.list_findings(FindingFilter(archived=None))


def only(store: Store) -> dict[str, Any]:
    items = all_findings(store)
    assert len(items) == 1, items
    return items[0]


def engine_of(db: str) -> sa.Engine:
    """An engine of its own on the store's database: not the store's."""
    url = db if "://" in db else f"sqlite:///{db}"
    return sa.create_engine(url, poolclass=sa.NullPool)


def rows(db: str | Path, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Read the database behind the store's back, through a connection of our own."""
    engine = engine_of(str(db))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


# --- opening --------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_open_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.db"
    s = Store.open(path)
    s.close()
    assert path.is_file()


@pytest.mark.sqlite_only
def test_open_accepts_a_sqlalchemy_url(tmp_path: Path) -> None:
    path = tmp_path / "url.db"
    s = Store.open(f"sqlite:///{path}")
    try:
        commit(s, "obj", [make_hit()])
    finally:
        s.close()
    assert rows(path, "SELECT count(*) FROM findings") == [(1,)]


@pytest.mark.sqlite_only
def test_open_unusable_url_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store.open(f"sqlite:///{tmp_path}/missing-dir/x.db")


@pytest.mark.sqlite_only
def test_open_path_under_a_file_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(StoreError):
        Store.open(tmp_path / "afile" / "x.db")


@pytest.mark.sqlite_only
def test_database_is_in_wal_mode(store: Store, db_path: Path) -> None:
    commit(store, "obj", [make_hit()])
    # the file itself says so, to the plain sqlite3 module
    con = sqlite3.connect(db_path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    finally:
        con.close()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


# --- aggregation ----------------------------------------------------------------------


def test_two_occurrences_make_one_finding(store: Store) -> None:
    h1 = make_hit("e1", at=T0 + timedelta(minutes=5))
    h2 = make_hit("e2", at=T0, position="record 1")
    result = commit(store, "/logs/a.json", [h1, h2])
    assert result == CommitResult(new=[fid_of(h1)], updated=[])
    f = only(store)
    assert f["id"] == fid_of(h1)
    assert f["service"]["count"] == 2
    assert f["service"]["eventFirstSeen"] == iso(to_ms(T0))
    assert f["service"]["eventLastSeen"] == iso(to_ms(T0 + timedelta(minutes=5)))


def test_occurrences_in_two_objects_aggregate(store: Store) -> None:
    h1 = make_hit("e1", at=T0 + timedelta(hours=1), obj="/logs/a.json")
    h2 = make_hit("e2", at=T0, obj="/logs/b.json")
    h3 = make_hit("e3", at=T0 + timedelta(hours=2), obj="/logs/b.json")
    assert commit(store, "/logs/a.json", [h1]).new == [fid_of(h1)]
    assert commit(store, "/logs/b.json", [h2, h3]) == CommitResult(new=[], updated=[fid_of(h1)])
    s = only(store)["service"]
    assert s["count"] == 3
    assert s["eventFirstSeen"] == iso(to_ms(T0))
    assert s["eventLastSeen"] == iso(to_ms(T0 + timedelta(hours=2)))


def test_span_of_an_occurrence_counts(store: Store) -> None:
    # a flow record has a start and an end
    commit(store, "a", [make_hit("e1", at=T0, until=T0 + timedelta(minutes=10))])
    commit(store, "b", [make_hit("e2", at=T0 + timedelta(minutes=1))])
    s = only(store)["service"]
    assert s["eventFirstSeen"] == iso(to_ms(T0))
    assert s["eventLastSeen"] == iso(to_ms(T0 + timedelta(minutes=10)))


def test_any_key_part_makes_another_finding(store: Store) -> None:
    base = make_hit("e1")
    commit(
        store,
        "obj",
        [
            base,
            make_hit("e2", finding_type=SCAN),
            make_hit("e3", account="444455556666"),
            make_hit("e4", region="eu-west-1"),
            make_hit("e5", resource_key="arn:aws:iam::111122223333:user/bob"),
            make_hit("e6", actor_key="198.51.100.7"),
        ],
    )
    items = all_findings(store)
    assert len(items) == 6
    assert all(f["service"]["count"] == 1 for f in items)


def test_same_event_in_two_objects_counts_once(store: Store) -> None:
    h = make_hit("e1", obj="/logs/a.json")
    commit(store, "/logs/a.json", [h])
    again = commit(store, "/logs/b.json", [replace(h, object="/logs/b.json")])
    assert again == CommitResult(new=[], updated=[fid_of(h)])
    f = only(store)
    assert f["service"]["count"] == 1
    assert f["service"]["eventFirstSeen"] == f["service"]["eventLastSeen"] == iso(to_ms(T0))


def test_same_object_committed_twice_counts_once(store: Store, db: str) -> None:
    hits = [make_hit("e1"), make_hit("e2", at=T0 + timedelta(seconds=1))]
    commit(store, "/logs/a.json", hits, version="v1")
    first = only(store)
    commit(store, "/logs/a.json", hits, version="v2", now_ms=NOW + 1000)
    f = only(store)
    assert f["service"]["count"] == 2
    assert f["service"]["eventFirstSeen"] == first["service"]["eventFirstSeen"]
    assert f["service"]["eventLastSeen"] == first["service"]["eventLastSeen"]
    assert rows(db, "SELECT count(*) FROM finding_events") == [(2,)]


def _object(name: str, hits: list[Hit], rejects: Iterable[Reject] = ()) -> ObjectCommit:
    rejects = list(rejects)
    return ObjectCommit(
        name=name,
        version="v1",
        kind="cloudtrail",
        rows=len(hits),
        failed=False,
        rejected=len(rejects),
        rejects=rejects,
        hits=hits,
    )


def _state(store: Store, db: str) -> tuple[Any, ...]:
    findings = [
        (
            f["id"],
            f["service"]["count"],
            f["service"]["eventFirstSeen"],
            f["service"]["eventLastSeen"],
        )
        for f in all_findings(store)
    ]
    return (
        sorted(findings),
        sorted(rows(db, "SELECT finding_id, event_key, object, position FROM finding_events")),
        sorted(rows(db, "SELECT object, version, rows, rejected FROM checkpoints")),
        sorted(rows(db, "SELECT object, position, reason FROM quarantine")),
    )


def test_objects_committed_together_equal_one_by_one(new_db: Callable[[], str]) -> None:
    """Several objects in one transaction: the same findings, evidence, checkpoints and
    quarantine as committing them one after the other (an event in two of them counts
    once and cites the first)."""
    shared = make_hit("e1", obj="/logs/b.json", position="record 3")
    objects = [
        _object("/logs/a.json", [make_hit("e0"), make_hit("e1", obj="/logs/a.json")]),
        _object(
            "/logs/b.json",
            [shared, make_hit("e2", at=T0 + timedelta(minutes=5), obj="/logs/b.json")],
            [Reject("/logs/b.json", "record 7", "bad eventTime")],
        ),
        _object("/logs/c.json", [], [Reject("/logs/c.json", "object", "truncated gzip")]),
    ]
    states = []
    for together in (False, True):
        db = new_db()
        store = Store.open(db)
        try:
            if together:
                result = store.commit_objects(objects, now_ms=NOW)
                assert result.new == [fid_of(shared)] and result.updated == []
            else:
                for o in objects:
                    store.commit_objects([o], now_ms=NOW)
            states.append(_state(store, db))
        finally:
            store.close()
    assert states[0] == states[1]
    findings, events, checkpoints, quarantined = states[1]
    assert findings[0][1] == 3  # e0, e1 (in a and b), e2
    assert ("/logs/a.json" in {e[2] for e in events}) and len(events) == 3
    assert len(checkpoints) == 3 and len(quarantined) == 2


def test_objects_committed_together_are_all_or_nothing(
    store: Store, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure at the last write (the checkpoints) undoes the findings already written."""
    objects = [_object("/logs/a.json", [make_hit("e1")]), _object("/logs/b.json", [make_hit("e2")])]
    upsert = store._upsert

    def failing(conn: Any, table: sa.Table, rows: Any, keys: Any) -> None:
        if table.name == "checkpoints":
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))
        upsert(conn, table, rows, keys)

    monkeypatch.setattr(store, "_upsert", failing)
    with pytest.raises(StoreError, match="2 objects"):
        store.commit_objects(objects, now_ms=NOW)
    assert all_findings(store) == []
    assert rows(db, "SELECT count(*) FROM finding_events") == [(0,)]
    monkeypatch.setattr(store, "_upsert", upsert)
    store.commit_objects(objects, now_ms=NOW)
    assert only(store)["service"]["count"] == 2
    assert rows(db, "SELECT count(*) FROM checkpoints") == [(2,)]


def test_lookups_of_many_findings_go_in_slices(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement binds only so many values (SQLite 32,766, PostgreSQL 65,535), so the
    findings a commit touches are looked up in slices: none may be missed at the seams."""
    import trailguard.findings.store as store_module

    monkeypatch.setattr(store_module, "_IN_SLICE", 7)
    n = 25
    hits = [
        make_hit(f"e{i}", resource_key=f"arn:aws:iam::111122223333:user/u{i}") for i in range(n)
    ]
    first = commit(store, "/logs/big.json", hits)
    assert len(first.new) == n and not first.updated
    again = commit(
        store,
        "/logs/big2.json",
        [replace(h, event_key=h.event_key + "-2", object="/logs/big2.json") for h in hits],
    )
    assert len(again.updated) == n and not again.new
    assert {f["service"]["count"] for f in all_findings(store)} == {2}


def test_same_event_twice_in_one_object_keeps_widest_span(store: Store) -> None:
    wide = make_hit("e1", at=T0, until=T0 + timedelta(minutes=3))
    narrow = make_hit("e1", at=T0 + timedelta(minutes=1))
    commit(store, "obj", [wide, narrow])
    s = only(store)["service"]
    assert s["count"] == 1
    assert s["eventFirstSeen"] == iso(to_ms(T0))
    assert s["eventLastSeen"] == iso(to_ms(T0 + timedelta(minutes=3)))


def test_created_at_stays_and_updated_at_moves(store: Store) -> None:
    commit(store, "a", [make_hit("e1")], now_ms=NOW)
    commit(store, "b", [make_hit("e2", at=T0 + timedelta(seconds=5))], now_ms=NOW + 60_000)
    f = only(store)
    assert f["createdAt"] == iso(NOW)
    assert f["updatedAt"] == iso(NOW + 60_000)


# --- the latest occurrence's details --------------------------------------------------


def test_latest_occurrence_details_win_by_event_time(store: Store) -> None:
    late = make_hit("e-late", at=T0 + timedelta(hours=1), title="late", api="StopLogging")
    early = make_hit("e-early", at=T0, title="early", api="CreateAccessKey", severity=8.0)
    commit(store, "a", [late])
    # arriving later does not make an occurrence the latest: event time does
    commit(store, "b", [early])
    f = only(store)
    assert f["title"] == "late"
    assert f["service"]["action"]["awsApiCallAction"]["api"] == "StopLogging"
    assert f["description"] == "StopLogging was called."
    assert f["severity"] == 2.0
    newer = make_hit("e-newer", at=T0 + timedelta(hours=2), title="newer", severity=8.0)
    commit(store, "c", [newer])
    f = only(store)
    assert f["title"] == "newer"
    assert f["severity"] == 8.0
    assert f["severityLabel"] == "High"


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_latest_occurrence_tie_is_broken_deterministically(
    new_db: Callable[[], str], order: tuple[str, str]
) -> None:
    hits = {
        "a": make_hit("e-a", title="title A", api="ApiA", obj="a", position="record 0"),
        "b": make_hit("e-b", title="title B", api="ApiB", obj="b", position="record 0"),
    }
    s = Store.open(new_db())
    try:
        for name in order:
            commit(s, name, [hits[name]])
        f = only(s)
    finally:
        s.close()
    # same event time: the greater event key is the latest, whatever the commit order
    assert f["title"] == "title B"
    assert f["service"]["action"]["awsApiCallAction"]["api"] == "ApiB"
    assert f["service"]["evidence"]["latestOccurrence"] == {"object": "b", "position": "record 0"}
    assert f["service"]["evidence"]["firstOccurrence"] == {"object": "a", "position": "record 0"}


def test_findings_do_not_depend_on_commit_order(new_db: Callable[[], str]) -> None:
    objects = {
        "/logs/1.json": [make_hit("e1", at=T0, title="one", obj="/logs/1.json")],
        "/logs/2.json": [
            make_hit("e2", at=T0 + timedelta(minutes=9), title="two", obj="/logs/2.json"),
            make_hit("e3", at=T0, finding_type=SCAN, severity=5.0, obj="/logs/2.json"),
        ],
        "/logs/3.json": [
            make_hit("e4", at=T0 + timedelta(minutes=3), title="three", obj="/logs/3.json"),
            make_hit("e5", at=T0 + timedelta(minutes=1), finding_type=SCAN, obj="/logs/3.json"),
        ],
    }
    docs = []
    for order in (sorted(objects), sorted(objects, reverse=True)):
        s = Store.open(new_db())
        try:
            for name in order:
                commit(s, name, objects[name])
            docs.append(all_findings(s))
        finally:
            s.close()
    assert docs[0] == docs[1]
    assert len(docs[0]) == 2


def test_duplicate_event_evidence_does_not_depend_on_commit_order(
    new_db: Callable[[], str],
) -> None:
    docs = []
    for order in (["/logs/a.json", "/logs/b.json"], ["/logs/b.json", "/logs/a.json"]):
        s = Store.open(new_db())
        try:
            for name in order:
                commit(s, name, [make_hit("e1", obj=name, position="record 3")])
            docs.append(only(s)["service"]["evidence"])
        finally:
            s.close()
    assert docs[0] == docs[1]


def test_evidence_names_first_and_latest_occurrence(store: Store) -> None:
    commit(
        store,
        "/logs/b.json",
        [
            make_hit("e2", at=T0 + timedelta(minutes=2), obj="/logs/b.json", position="record 7"),
            make_hit("e3", at=T0 + timedelta(minutes=1), obj="/logs/b.json", position="record 2"),
        ],
    )
    commit(store, "/logs/a.json", [make_hit("e1", at=T0, obj="/logs/a.json", position="record 4")])
    ev = only(store)["service"]["evidence"]
    assert ev["firstOccurrence"] == {"object": "/logs/a.json", "position": "record 4"}
    assert ev["latestOccurrence"] == {"object": "/logs/b.json", "position": "record 7"}


def test_additional_info_of_latest_occurrence(store: Store) -> None:
    commit(store, "a", [make_hit("e1", additional_info={"answers": ["169.254.169.254"]})])
    info = only(store)["service"]["additionalInfo"]
    assert info == {"value": {"answers": ["169.254.169.254"]}, "type": "default"}


# --- checkpoints and quarantine ---------------------------------------------------------


def test_checkpoint_is_per_object_and_version(store: Store) -> None:
    assert not store.is_committed("/logs/a.json", "v1")
    commit(store, "/logs/a.json", version="v1")
    assert store.is_committed("/logs/a.json", "v1")
    assert not store.is_committed("/logs/a.json", "v2")
    assert not store.is_committed("/logs/b.json", "v1")
    commit(store, "/logs/a.json", version="v2")
    assert store.is_committed("/logs/a.json", "v2")
    assert not store.is_committed("/logs/a.json", "v1")


def test_checkpoint_records_failure_and_tallies(store: Store, db: str) -> None:
    commit(
        store,
        "/logs/bad.gz",
        rejects=[Reject("/logs/bad.gz", "byte 40", "truncated gzip")],
        failed=True,
    )
    got = rows(db, "SELECT version, kind, rejected, failed, committed_at FROM checkpoints")
    assert got == [("v1", "cloudtrail", 1, True, NOW)]
    assert isinstance(got[0][3], bool if "://" in db else int)


def test_quarantine_lists_rejects(store: Store) -> None:
    commit(
        store,
        "/logs/b.json",
        rejects=[Reject("/logs/b.json", "record 3", "eventTime: not a time")],
    )
    commit(store, "/logs/a.json", rejects=[Reject("/logs/a.json", "object", "empty object")])
    got = [(q.object, q.version, q.position, q.reason, q.recorded_at) for q in store.quarantined()]
    assert got == [
        ("/logs/a.json", "v1", "object", "empty object", NOW),
        ("/logs/b.json", "v1", "record 3", "eventTime: not a time", NOW),
    ]
    assert len(store.quarantined(limit=1)) == 1


def test_quarantine_rows_are_replaced_when_an_object_is_recommitted(store: Store) -> None:
    a, b = "/logs/a.json", "/logs/b.json"
    commit(store, a, rejects=[Reject(a, "record 1", "bad 1"), Reject(a, "record 2", "bad 2")])
    commit(store, b, rejects=[Reject(b, "record 9", "bad 9")])
    commit(store, a, version="v2", rejects=[Reject(a, "record 5", "bad 5")])
    got = [(q.object, q.version, q.position) for q in store.quarantined()]
    assert got == [(a, "v2", "record 5"), (b, "v1", "record 9")]
    commit(store, a, version="v3")
    assert [(q.object, q.position) for q in store.quarantined()] == [(b, "record 9")]


# --- archive --------------------------------------------------------------------------


def test_archive_hides_and_unarchive_shows(store: Store) -> None:
    h = make_hit()
    commit(store, "a", [h])
    assert store.set_archived([fid_of(h)], True, NOW) == 1
    assert store.list_findings() == []
    assert [f["id"] for f in store.list_findings(FindingFilter(archived=True))] == [fid_of(h)]
    assert store.get_finding(fid_of(h))["service"]["archived"] is True  # type: ignore[index]
    assert store.set_archived([fid_of(h)], False, NOW) == 1
    assert [f["id"] for f in store.list_findings()] == [fid_of(h)]
    assert store.list_findings(FindingFilter(archived=True)) == []


def test_archive_of_unknown_id_changes_nothing(store: Store) -> None:
    commit(store, "a", [make_hit()])
    assert store.set_archived(["0" * 32], True, NOW) == 0
    assert len(store.list_findings()) == 1


def test_new_occurrence_brings_an_archived_finding_back(store: Store) -> None:
    h = make_hit("e1")
    commit(store, "a", [h])
    store.set_archived([fid_of(h)], True, NOW)
    commit(store, "b", [make_hit("e2", at=T0 + timedelta(minutes=1), obj="b")])
    f = only(store)
    assert f["service"]["archived"] is False
    assert f["service"]["count"] == 2
    assert [x["id"] for x in store.list_findings()] == [fid_of(h)]


def test_recommitting_the_same_event_keeps_it_archived(store: Store) -> None:
    h = make_hit("e1")
    commit(store, "a", [h], version="v1")
    store.set_archived([fid_of(h)], True, NOW)
    commit(store, "a", [h], version="v2")  # the object changed, the event did not
    commit(store, "b", [replace(h, object="b")])  # the event delivered again elsewhere
    f = only(store)
    assert f["service"]["archived"] is True
    assert f["service"]["count"] == 1
    assert store.list_findings() == []


# --- reading and filters --------------------------------------------------------------

LOW = make_hit("f1", at=T0, obj="o1", finding_type=ROOT, severity=2.0)
MEDIUM = make_hit(
    "f2",
    at=T0 + timedelta(hours=1),
    obj="o2",
    finding_type=SCAN,
    severity=5.0,
    account="444455556666",
    region="eu-west-1",
    resource_key="i-0abc",
)
HIGH = make_hit(
    "f3",
    at=T0 + timedelta(hours=2),
    obj="o3",
    finding_type=REBIND,
    severity=8.0,
    region="eu-west-1",
    resource_key="i-100%_off",
)
CRITICAL = make_hit(
    "f4",
    at=T0 + timedelta(hours=3),
    obj="o4",
    finding_type=CRIT,
    severity=9.5,
    account="444455556666",
    resource_key="i-100xyoff",
)


@pytest.fixture
def seeded(store: Store) -> Store:
    for h in (LOW, MEDIUM, HIGH, CRITICAL):
        commit(store, h.object, [h])
    return store


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [f["id"] for f in items]


def test_list_is_most_severe_first(seeded: Store) -> None:
    assert ids(seeded.list_findings()) == [fid_of(h) for h in (CRITICAL, HIGH, MEDIUM, LOW)]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (FindingFilter(min_severity="low"), [CRITICAL, HIGH, MEDIUM, LOW]),
        (FindingFilter(min_severity="medium"), [CRITICAL, HIGH, MEDIUM]),
        (FindingFilter(min_severity="HIGH"), [CRITICAL, HIGH]),
        (FindingFilter(min_severity="critical"), [CRITICAL]),
        (FindingFilter(types=[ROOT, REBIND]), [HIGH, LOW]),
        (FindingFilter(types=["Nope:Nothing/Here"]), []),
        (FindingFilter(account_id="444455556666"), [CRITICAL, MEDIUM]),
        (FindingFilter(region="eu-west-1"), [HIGH, MEDIUM]),
        (FindingFilter(resource="0abc"), [MEDIUM]),
        (FindingFilter(resource="iam::1111"), [LOW]),
        # LIKE wildcards in the filter are literal characters
        (FindingFilter(resource="%"), [HIGH]),
        (FindingFilter(resource="_"), [HIGH]),
        (FindingFilter(resource="100%_"), [HIGH]),
        (FindingFilter(resource="100__off"), []),
        (FindingFilter(since_ms=to_ms(T0 + timedelta(hours=2))), [CRITICAL, HIGH]),
        (FindingFilter(since_ms=to_ms(T0 + timedelta(hours=2)) + 1), [CRITICAL]),
        (FindingFilter(since_ms=to_ms(T0 + timedelta(days=9))), []),
        (FindingFilter(limit=2), [CRITICAL, HIGH]),
        (FindingFilter(region="eu-west-1", min_severity="high"), [HIGH]),
        (FindingFilter(account_id="111122223333", region="us-east-1"), [LOW]),
    ],
)
def test_filters(seeded: Store, flt: FindingFilter, expected: list[Hit]) -> None:
    assert ids(seeded.list_findings(flt)) == [fid_of(h) for h in expected]


def test_archived_filter(seeded: Store) -> None:
    seeded.set_archived([fid_of(HIGH)], True, NOW)
    assert ids(seeded.list_findings(FindingFilter(archived=False))) == [
        fid_of(h) for h in (CRITICAL, MEDIUM, LOW)
    ]
    assert ids(seeded.list_findings(FindingFilter(archived=True))) == [fid_of(HIGH)]
    assert ids(seeded.list_findings(FindingFilter(archived=None))) == [
        fid_of(h) for h in (CRITICAL, HIGH, MEDIUM, LOW)
    ]


def test_unknown_severity_filter_raises(seeded: Store) -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        seeded.list_findings(FindingFilter(min_severity="severe"))


def test_get_finding(seeded: Store) -> None:
    f = seeded.get_finding(fid_of(MEDIUM))
    assert f is not None
    assert f["type"] == SCAN
    assert f == seeded.list_findings(FindingFilter(types=[SCAN]))[0]
    assert seeded.get_finding("0" * 32) is None


def test_find_ids_by_prefix(seeded: Store) -> None:
    fid = fid_of(HIGH)
    assert seeded.find_ids(fid) == [fid]
    assert fid in seeded.find_ids(fid[:6])
    assert sorted(seeded.find_ids("")) == sorted(fid_of(h) for h in (LOW, MEDIUM, HIGH, CRITICAL))
    assert seeded.find_ids("%") == []
    assert seeded.find_ids("_") == []
    assert seeded.find_ids("zz") == []


def test_has_active_findings(seeded: Store) -> None:
    assert seeded.has_active_findings(["o1"], 1.0)
    assert not seeded.has_active_findings(["o1"], 4.0)
    assert seeded.has_active_findings(["o1", "o2"], 4.0)
    assert seeded.has_active_findings(["o4"], 9.0)
    assert not seeded.has_active_findings(["o3"], 9.0)
    assert not seeded.has_active_findings(["elsewhere"], 1.0)
    assert not seeded.has_active_findings([], 1.0)
    seeded.set_archived([fid_of(CRITICAL)], True, NOW)
    assert not seeded.has_active_findings(["o4"], 1.0)


def test_has_active_findings_over_many_objects(seeded: Store) -> None:
    many = [f"/logs/{i:05d}.json" for i in range(1_500)]
    assert not seeded.has_active_findings(many, 1.0)
    many[1_234] = "o2"  # beyond the first chunk
    assert seeded.has_active_findings(many, 4.0)


# --- window state ---------------------------------------------------------------------


def delta(key: str, w: int, values: list[int], detection: str = "portscan") -> WindowDelta:
    return WindowDelta(
        detection,
        pa.table({"key": [key] * len(values), "w": [w] * len(values), "v": values}),
        pa.table({"key": [key], "w": [w], "first_ms": [w], "last_ms": [w + 1]}),
    )


def test_window_state_round_trips_and_compacts(store: Store) -> None:
    first = delta("10.0.0.5|198.51.100.7", 1_000, [22, 80])
    r1 = commit(store, "a", deltas=[first])
    saved, ids = store.load_windows(["portscan"])
    assert ids == r1.delta_ids and len(ids) == 1
    assert saved[0].values.equals(first.values) and saved[0].cells.equals(first.cells)
    assert store.load_windows(["other"]) == ([], [])
    assert store.load_windows([]) == ([], [])
    second = delta("10.0.0.5|198.51.100.7", 1_000, [443])
    r2 = commit(store, "b", deltas=[second, delta("x", 9, [1], detection="other")])
    saved, ids = store.load_windows(["portscan"])
    assert [d.values["v"].to_pylist() for d in saved] == [[22, 80], [443]]
    # a delta written by someone else meanwhile is not in the snapshot and must survive
    r3 = commit(store, "c", deltas=[delta("y", 5, [7])])
    snap = replace(delta("10.0.0.5|198.51.100.7", 1_000, [22, 80, 443]), snapshot=True)
    store.compact_windows([snap], [*r1.delta_ids, *r2.delta_ids[:1]])
    saved, ids = store.load_windows(["portscan"])
    assert [d.values["v"].to_pylist() for d in saved] == [[7], [22, 80, 443]]
    assert [d.snapshot for d in saved] == [False, True]
    assert r3.delta_ids[0] in ids
    assert len(store.load_windows(["other"])[0]) == 1


def test_empty_deltas_are_not_written(store: Store) -> None:
    empty = WindowDelta("portscan", pa.table({"v": pa.array([], pa.int32())}), pa.table({}))
    assert commit(store, "a", deltas=[empty]).delta_ids == []


# --- the unit of commit ---------------------------------------------------------------


def snapshot(db: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: rows(db, f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 - fixed names
        for table in ("findings", "finding_events", "checkpoints", "quarantine", "window_deltas")
    }


def test_failed_commit_writes_nothing_of_the_object(store: Store, db: str) -> None:
    commit(
        store,
        "/logs/a.json",
        [make_hit("e1", obj="/logs/a.json")],
        rejects=[Reject("/logs/a.json", "record 2", "bad")],
        deltas=[delta("k", 0, [1])],
    )
    before = snapshot(db)
    cell = delta("k2", 0, [2])
    with pytest.raises(StoreError, match=re.escape("/logs/b.json")):
        commit(
            store,
            "/logs/b.json",
            [
                make_hit("e2", at=T0 + timedelta(hours=1), obj="/logs/b.json", title="newer"),
                make_hit("e3", finding_type=SCAN, obj="/logs/b.json"),
            ],
            # quarantine.reason is NOT NULL: the insert fails after hits and cells are written
            rejects=[Reject("/logs/b.json", "record 1", None)],  # type: ignore[arg-type]
            deltas=[cell],
        )
    assert snapshot(db) == before
    assert not store.is_committed("/logs/b.json", "v1")
    f = only(store)
    assert f["service"]["count"] == 1
    assert f["title"] != "newer"


def test_failed_recommit_keeps_the_previous_commit(store: Store, db: str) -> None:
    a = "/logs/a.json"
    commit(store, a, [make_hit("e1", obj=a)], version="v1", rejects=[Reject(a, "record 2", "bad")])
    before = snapshot(db)

    def exploding_cells() -> Iterator[WindowDelta]:
        yield delta("k", 0, [1])
        raise RuntimeError("crash in the middle of the commit")

    with pytest.raises(RuntimeError, match="crash"):
        commit(
            store,
            a,
            [make_hit("e1", obj=a), make_hit("e9", at=T0 + timedelta(days=1), obj=a)],
            version="v2",
            rejects=[],
            deltas=exploding_cells(),
        )
    assert snapshot(db) == before
    assert store.is_committed(a, "v1")
    assert not store.is_committed(a, "v2")
    assert [(q.object, q.position) for q in store.quarantined()] == [(a, "record 2")]
    assert only(store)["service"]["count"] == 1


# --- several readers at once ----------------------------------------------------------


def test_second_store_reads_while_first_is_open(store: Store, db: str) -> None:
    commit(store, "a", [make_hit("e1")])
    other = Store.open(db)
    try:
        assert all_findings(other) == all_findings(store)
        commit(other, "b", [make_hit("e2", at=T0 + timedelta(seconds=1))])
        assert only(store)["service"]["count"] == 2
    finally:
        other.close()


@pytest.mark.sqlite_only  # WAL; PostgreSQL's readers never block writers
def test_reader_does_not_block_a_commit(store: Store, db_path: Path) -> None:
    commit(store, "a", [make_hit("e1")])
    other = Store.open(db_path)
    try:
        with other.engine.connect() as reader:
            reader.exec_driver_sql("BEGIN")
            assert reader.execute(sa.text("SELECT count(*) FROM findings")).scalar() == 1
            # in WAL mode a writer commits while a read transaction is open
            commit(store, "b", [make_hit("e2", finding_type=SCAN)])
            # ... and the reader keeps its snapshot
            assert reader.execute(sa.text("SELECT count(*) FROM findings")).scalar() == 1
            reader.exec_driver_sql("COMMIT")
        assert len(all_findings(other)) == 2
    finally:
        other.close()


READER = """
import json, sys
from trailguard.findings.store import FindingFilter, Store
s = Store.open(sys.argv[1])
print(json.dumps([f["id"] for f in s.list_findings(FindingFilter(archived=None))]))
s.close()
"""


def test_another_process_reads_while_a_write_is_in_progress(
    store: Store, db: str, backend: str
) -> None:
    h = make_hit("e1")
    commit(store, "a", [h])
    with store.engine.connect() as writer:
        if backend == "sqlite":
            writer.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now
        writer.exec_driver_sql("UPDATE findings SET title = 'uncommitted'")
        proc = subprocess.run(
            [sys.executable, "-c", READER, db],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if backend == "sqlite":
            writer.exec_driver_sql("ROLLBACK")
        else:
            writer.rollback()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [fid_of(h)]


def test_two_scans_at_once_do_not_duplicate_quarantine(tmp_path: Path, db: str) -> None:
    from trailguard.scan import Scanner
    from trailguard.sources.local import LocalSource

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "empty.json").write_bytes(b"")
    first, second = Store.open(db), Store.open(db)
    try:
        # both scans start, and read the checkpoints, before either has committed
        scanners = [Scanner(first, []), Scanner(second, [])]
        for scanner in scanners:
            scanner.scan([LocalSource(logs)])
        assert [(Path(q.object).name, q.reason) for q in first.quarantined()] == [
            ("empty.json", "empty object")
        ]
    finally:
        first.close()
        second.close()


def test_record_hits_aggregates_without_a_checkpoint(store: Store) -> None:
    first = store.record_hits([make_hit(event_key="e1")], now_ms=NOW)
    again = store.record_hits([make_hit(event_key="e1"), make_hit(event_key="e2")], now_ms=NOW)
    assert len(first.new) == 1 and not first.updated
    assert again.updated == first.new and not again.new
    assert only(store)["service"]["count"] == 2
    assert store.checkpoint_versions() == {}


# --- what must not depend on the database -------------------------------------------------


def test_quarantine_is_in_byte_order_of_object_whatever_the_collation(store: Store) -> None:
    # SQLite compares text byte by byte; a PostgreSQL database usually has a language's
    # collation (the test server's is ICU en-US), where "a" < "B" < "b"
    names = ["/logs/b.json", "/logs/B.json", "/logs/a.json", "/logs/_x.json", "/logs/A-1.json"]
    for name in names:
        commit(store, name, rejects=[Reject(name, "object", "empty object")])
    assert [q.object for q in store.quarantined()] == sorted(names)


def test_resource_filter_and_id_prefix_ignore_case(seeded: Store) -> None:
    # SQLite's LIKE ignores ASCII case; the store gives the same answers on every database
    assert ids(seeded.list_findings(FindingFilter(resource="I-0ABC"))) == [fid_of(MEDIUM)]
    assert ids(seeded.list_findings(FindingFilter(resource="IAM::1111"))) == [fid_of(LOW)]
    fid = fid_of(HIGH)
    assert seeded.find_ids(fid.upper()) == [fid]
    assert fid in seeded.find_ids(fid[:6].upper())


def test_text_with_nul_and_other_control_characters(store: Store) -> None:
    # log text is attacker-controlled: a NUL in a user name or a position must not
    # make a commit fail (PostgreSQL's text cannot hold NUL)
    odd = "bob\x00\x01\u2028é\U0001f600"
    h = make_hit(
        f"e\x00{odd}",
        title=f"title {odd}",
        resource_key=f"arn:aws:iam::111122223333:user/{odd}",
        actor_key=f"198.51.100.7\x00{odd}",
        obj=f"/logs/{odd}.json",
        position=f"record {odd}",
    )
    r = commit(store, h.object, [h], rejects=[Reject(h.object, f"record {odd}", f"bad {odd}")])
    assert r.new == [fid_of(h)]
    f = only(store)
    assert f["title"] == h.title
    assert f["service"]["evidence"]["latestOccurrence"] == {
        "object": h.object,
        "position": h.position,
    }
    # the same event again is the same occurrence
    assert commit(store, h.object, [h], version="v2").updated == [fid_of(h)]
    assert only(store)["service"]["count"] == 1
    assert [(q.object, q.position, q.reason) for q in store.quarantined()] == []
    commit(store, h.object, version="v3", rejects=[Reject(h.object, f"record {odd}", odd)])
    assert [(q.object, q.position, q.reason) for q in store.quarantined()] == [
        (h.object, f"record {odd}", odd)
    ]
    assert store.is_committed(h.object, "v3")
    assert ids(store.list_findings(FindingFilter(resource="bob\x00"))) == [fid_of(h)]


def test_commits_at_once_to_one_finding_count_every_occurrence(store: Store, db: str) -> None:
    """Two processes' commits that change one finding: the second waits for the first and
    starts from its tally (no lost update)."""
    other = Store.open(db)
    reached, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def held_open() -> Iterator[WindowDelta]:
        # the first commit has written its hits and waits here, inside its transaction
        reached.set()
        assert release.wait(30)
        yield delta("k", 0, [1])

    def run(target: Callable[[], object]) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=body)
        t.start()
        return t

    try:
        first = run(lambda: commit(store, "a", [make_hit("e1", obj="a")], deltas=held_open()))
        assert reached.wait(30)
        second = run(
            lambda: commit(other, "b", [make_hit("e2", at=T0 + timedelta(minutes=1), obj="b")])
        )
        second.join(1.0)
        release.set()
        first.join(30)
        second.join(30)
        assert not first.is_alive() and not second.is_alive()
        assert errors == []
        f = only(store)
        assert f["service"]["count"] == 2
        assert f["service"]["eventLastSeen"] == iso(to_ms(T0 + timedelta(minutes=1)))
    finally:
        release.set()
        other.close()
