"""The engine: combined per-event queries, windows, and failing detections."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from trailguard.detect import engine as engine_module
from trailguard.detect.detection import DetectionMeta, EventDetection, WindowDetection
from trailguard.detect.engine import Engine, _only
from trailguard.formats.schema import CLOUDTRAIL, VPCFLOW


def meta(id: str, log_type: str = "cloudtrail", **kw: Any) -> DetectionMeta:
    return DetectionMeta(
        id=id,
        finding_type=kw.pop("finding_type", "Policy:IAMUser/Test.Custom"),
        severity=5.0,
        title=kw.pop("title", "test {api}"),
        description="d",
        log_type=log_type,  # type: ignore[arg-type]
        resource_type="AccessKey" if log_type == "cloudtrail" else "Instance",
        **kw,
    )


def ct_batch(names: list[str]) -> pa.RecordBatch:
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    rows = [
        {
            "eventTime": t0 + timedelta(seconds=i),
            "eventName": n,
            "eventSource": "iam.amazonaws.com",
            "eventID": f"id-{i}",
            "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333",
            "sourceIPAddress": "203.0.113.9",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a"},
            "_pos": i,
        }
        for i, n in enumerate(names)
    ]
    return pa.RecordBatch.from_pylist(rows, schema=CLOUDTRAIL)


def test_each_detection_gets_its_own_matches() -> None:
    a = EventDetection(meta("a", finding_type="Policy:IAMUser/A.Custom"), "\"eventName\" = 'X'")
    b = EventDetection(
        meta("b", finding_type="Policy:IAMUser/B.Custom"), "\"eventName\" IN ('X', 'Y')"
    )
    engine = Engine([a, b])
    hits = engine.run("cloudtrail", ct_batch(["X", "Y", "Z", "X"]), "obj")
    got = sorted((h.detection_id, h.position) for h in hits)
    assert got == [
        ("a", "record 0"),
        ("a", "record 3"),
        ("b", "record 0"),
        ("b", "record 1"),
        ("b", "record 3"),
    ]
    assert not engine.errors
    # the flag columns of the combined query never leak into a hit
    assert all("__trailguard" not in h.title for h in hits)


def test_a_broken_detection_does_not_stop_the_others() -> None:
    good = EventDetection(meta("good"), "\"eventName\" = 'X'")
    broken = EventDetection(meta("broken"), '"no_such_column" = 1')

    @dataclass(frozen=True, slots=True)
    class Raising(EventDetection):
        def refine(self, row: Mapping[str, Any]) -> bool:
            raise RuntimeError("bug in refine")

    raising = Raising(meta("raising"), "\"eventName\" = 'X'")
    engine = Engine([broken, good, raising])
    hits = engine.run("cloudtrail", ct_batch(["X", "Y"]), "obj-1")
    assert [h.detection_id for h in hits] == ["good"]
    assert set(engine.errors) == {"broken", "raising"}
    assert "obj-1" in engine.errors["broken"][0]
    assert "bug in refine" in engine.errors["raising"][0]


def test_null_conditions_do_not_match() -> None:
    d = EventDetection(meta("n"), "\"errorCode\" <> 'AccessDenied'")
    assert Engine([d]).run("cloudtrail", ct_batch(["X"]), "o") == []


def flow_batch(ports: list[int], start: int = 1_793_700_000) -> pa.RecordBatch:
    rows = [
        {
            "version": 2,
            "account_id": "111122223333",
            "interface_id": "eni-1",
            "srcaddr": "10.0.0.5",
            "dstaddr": "198.51.100.7",
            "srcport": 40000 + i,
            "dstport": p,
            "protocol": 6,
            "packets": 1,
            "bytes": 40,
            "start": datetime.fromtimestamp(start + i, tz=UTC),
            "end": datetime.fromtimestamp(start + i + 30, tz=UTC),
            "action": "REJECT",
            "log_status": "OK",
            "_pos": i + 2,
        }
        for i, p in enumerate(ports)
    ]
    return pa.RecordBatch.from_pylist(rows, schema=VPCFLOW)


SCAN = WindowDetection(
    meta("scan", "vpcflow", finding_type="Recon:EC2/Portscan"),
    where="TRUE",
    key=("interface_id", "srcaddr", "dstaddr"),
    distinct="dstport",
    threshold=5,
    window=timedelta(minutes=10),
)


def test_window_fires_at_threshold_with_state_across_batches() -> None:
    engine = Engine([SCAN])
    engine.run("vpcflow", flow_batch([1, 2, 3, 4]), "o1")
    cells, hits = engine.take_window_changes()
    assert [c.cells.num_rows for c in cells] == [1] and hits == []
    engine.run("vpcflow", flow_batch([4, 5, 6, 7, 8, 9, 10, 11, 12], start=1_793_700_100), "o2")
    cells, hits = engine.take_window_changes()
    assert len(hits) == 1
    info = hits[0].additional_info
    assert info["distinctCount"] == 12
    assert info["distinctValues"] == list(range(1, 13))
    assert hits[0].first_seen == datetime.fromtimestamp(1_793_700_000, tz=UTC)
    # the evidence is the earliest row, whatever the order of arrival
    assert hits[0].object == "o1" and hits[0].position == "line 2"


def test_window_result_does_not_depend_on_arrival_order() -> None:
    def run(order: list[list[int]]) -> Any:
        engine = Engine([SCAN])
        for i, ports in enumerate(order):
            engine.run("vpcflow", flow_batch(ports), f"o{i}")
        _, hits = engine.take_window_changes()
        return [(h.event_key, h.additional_info["distinctValues"]) for h in hits]

    assert run([[1, 2, 3], [4, 5, 6]]) == run([[4, 5, 6], [1, 2, 3]])


def test_windows_are_aligned_to_the_epoch() -> None:
    engine = Engine([SCAN])
    # 4 ports just before a 10-minute boundary and 4 just after: two windows, no hit
    boundary = 1_793_700_000 - (1_793_700_000 % 600) + 600
    engine.run("vpcflow", flow_batch([1, 2, 3, 4], start=boundary - 10), "o")
    engine.run("vpcflow", flow_batch([5, 6, 7, 8], start=boundary + 1), "o")
    deltas, hits = engine.take_window_changes()
    assert [d.cells.num_rows for d in deltas] == [2] and hits == []


def test_prune_forgets_old_windows_only() -> None:
    engine = Engine([SCAN])
    engine.run("vpcflow", flow_batch([1, 2, 3], start=1_793_700_000), "old")
    engine.run("vpcflow", flow_batch([1, 2, 3], start=1_793_700_000 + 86_400), "new")
    engine.take_window_changes()
    assert engine.watermark() == (1_793_700_000 + 86_400 + 2) * 1000
    engine.prune((1_793_700_000 + 3_600) * 1000)
    parts = list(engine.snapshots())
    assert all(p.snapshot for p in parts)
    cells = pa.concat_tables([p.cells for p in parts])
    values = pa.concat_tables([p.values for p in parts])
    assert cells.num_rows == 1
    assert cells["obj"].to_pylist() == ["new"]
    assert set(values["v"].to_pylist()) == {1, 2, 3}
    assert min(cells["w"].to_pylist()) >= (1_793_700_000 + 3_600) * 1000 - 600_000


def test_prune_keeps_the_later_windows_of_a_partition() -> None:
    """With windows shorter than a partition, pruning at a time inside one keeps its
    windows that start at or after that time."""
    short = WindowDetection(
        meta("short", "vpcflow"),
        where="TRUE",
        key=("interface_id", "srcaddr", "dstaddr"),
        distinct="dstport",
        threshold=5,
        window=timedelta(minutes=2),
    )
    engine = Engine([short])
    base = 1_793_700_000 - (1_793_700_000 % 600)  # a partition (ten minutes) starts here
    engine.run("vpcflow", flow_batch([1, 2], start=base), "early")
    engine.run("vpcflow", flow_batch([3, 4], start=base + 240), "late")
    engine.take_window_changes()
    engine.prune((base + 120) * 1000)
    cells = pa.concat_tables([p.cells for p in engine.snapshots() if p.cells.num_rows])
    assert cells["w"].to_pylist() == [(base + 240) * 1000]
    assert cells["obj"].to_pylist() == ["late"]


def many_flows(start: int, n: int) -> pa.RecordBatch:
    """``n`` probes from distinct sources, spread over an hour from ``start``."""
    fields = ("interface_id", "srcaddr", "dstaddr", "dstport", "start", "_pos")
    return pa.RecordBatch.from_pydict(
        {
            "interface_id": ["eni-1"] * n,
            "srcaddr": [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(n)],
            "dstaddr": ["198.51.100.7"] * n,
            "dstport": [22] * n,
            "start": [datetime.fromtimestamp(start + i * 3_600 // n, tz=UTC) for i in range(n)],
            "_pos": list(range(n)),
        },
        schema=pa.schema([VPCFLOW.field(f) for f in fields]),
    )


def test_pruning_gives_back_the_memory_of_old_windows() -> None:
    """A long scan keeps about a retention's worth of window state in memory: pruned
    windows leave DuckDB's memory (deleted rows alone would not), and their tables go."""
    engine = Engine([SCAN])

    def used() -> int:
        sql = "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
        return int(engine.con.execute(sql).fetchall()[0][0])

    start = 1_793_700_000 - (1_793_700_000 % 3_600)
    memory = []
    for hour in range(12):
        engine.run_windows("vpcflow", many_flows(start + hour * 3_600, 30_000), f"o{hour}")
        engine.take_window_changes()
        engine.prune((start + (hour - 2) * 3_600) * 1000)  # a retention of two hours
        memory.append(used())
    assert memory[-1] <= 1.5 * memory[3]
    tables = engine.con.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0]
    assert tables <= 2 * 3 * 6  # three hours of ten-minute partitions, two tables each


def test_sealed_state_gives_the_same_hits_and_snapshot() -> None:
    """Partitions beyond the state budget are written to files and read back when a late
    object reaches them: the hits and the saved state are those of an engine that kept
    everything in memory."""
    base = 1_793_700_000 - (1_793_700_000 % 600)
    objects = [
        ("a", [1, 2, 3], base),
        ("b", [4, 5], base + 600),
        ("c", [6, 7], base + 1_200),
        ("late", [4, 5, 6, 7, 8], base + 10),  # back to the first partition
        ("d", [9], base + 1_800),
    ]

    def run(budget: int | None) -> tuple[list[Any], list[Any], list[Any], int]:
        engine = Engine([SCAN])
        if budget is not None:
            engine.state_budget = budget
        hits, sealed = [], 0
        for name, ports, start in objects:
            engine.run("vpcflow", flow_batch(ports, start=start), name)
            _, found = engine.take_window_changes()
            hits += [(h.event_key, h.additional_info["distinctValues"], h.object) for h in found]
            sealed = max(sealed, sum(p.sealed for p in engine.parts["scan"].values()))
        snapshot = list(engine.snapshots())
        values = pa.concat_tables([s.values for s in snapshot]).sort_by([("w", "ascending")])
        cells = pa.concat_tables([s.cells for s in snapshot]).sort_by([("w", "ascending")])
        return hits, sorted(values.to_pylist(), key=str), cells.to_pylist(), sealed

    kept = run(None)
    sealed = run(1)  # every partition but the last object's is sealed
    assert kept[3] == 0 and sealed[3] >= 2
    assert sealed[:3] == kept[:3]
    assert len(kept[0]) == 1 and kept[0][0][1] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert kept[0][0][2] == "a"  # the evidence is still the earliest row, from object a


def test_a_failed_read_of_sealed_state_leaves_it_sealed_and_readable() -> None:
    """Reading a sealed partition back is all or nothing: if it fails (here, a file is
    missing), the error is recorded and the partition can be read once the file is back."""
    base = 1_793_700_000 - (1_793_700_000 % 600)
    engine = Engine([SCAN])
    engine.state_budget = 1
    engine.run("vpcflow", flow_batch([1, 2, 3], start=base), "a")
    engine.take_window_changes()
    engine.run("vpcflow", flow_batch([9], start=base + 3_600), "b")
    engine.take_window_changes()
    first = min(engine.parts["scan"])
    assert engine.parts["scan"][first].sealed
    cells_file = engine._files(engine.tables["scan"], first)[1]
    os.rename(cells_file, cells_file + ".away")
    engine.run("vpcflow", flow_batch([4], start=base + 10), "c")
    deltas, _ = engine.take_window_changes()
    assert deltas == [] and "window state" in engine.errors["scan"][-1]
    assert engine.parts["scan"][first].sealed
    os.rename(cells_file + ".away", cells_file)
    engine.run("vpcflow", flow_batch([5, 6, 7], start=base + 20), "d")
    deltas, hits = engine.take_window_changes()
    assert [h.additional_info["distinctValues"] for h in hits] == [[1, 2, 3, 5, 6, 7]]
    engine.prune((base + 7_200) * 1000)  # drops what is left, files or tables
    assert all(not p.sealed for p in engine.parts["scan"].values())


def test_an_object_folded_in_steps_saves_a_compact_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    """When an object's rows are folded in several steps, its saved delta still holds each
    value once and one cell per window."""
    monkeypatch.setattr(engine_module, "FOLD_ROWS", 2)
    engine = Engine([SCAN])
    batch = flow_batch([1, 2, 1, 2, 3, 3])
    for start in range(0, batch.num_rows, 2):
        engine.run_windows("vpcflow", batch.slice(start, 2), "o")
    deltas, _ = engine.take_window_changes()
    assert sorted(deltas[0].values["v"].to_pylist()) == [1, 2, 3]
    assert deltas[0].cells.num_rows == 1
    assert deltas[0].cells["pos"].to_pylist() == [2]  # the earliest row's


def test_an_exact_tie_between_objects_does_not_depend_on_their_order() -> None:
    """Two objects with the same rows (a duplicate delivery): the window's earliest row
    is the same whichever comes first, in the last hit and in the saved state."""

    def run(names: list[str]) -> tuple[Any, Any]:
        engine = Engine([SCAN])
        engine.state_budget = 1 if "sealed" in names else engine.state_budget
        last = None
        for name in names:
            if name == "sealed":
                engine.run("vpcflow", flow_batch([1], start=1_793_703_600), "later")
            else:
                engine.run("vpcflow", flow_batch([1, 2, 3, 4, 5]), name)
            _, hits = engine.take_window_changes()
            last = [(h.object, h.position) for h in hits] or last
        cells = pa.concat_tables([s.cells for s in engine.snapshots()])
        return last, sorted(zip(cells["obj"].to_pylist(), cells["pos"].to_pylist(), strict=True))

    first = run(["copy-a", "copy-b"])
    assert run(["copy-b", "copy-a"]) == first
    assert run(["copy-b", "sealed", "copy-a"])[1] == first[1] + [("later", 2)]


def test_per_event_queries_see_only_the_fields_they_name() -> None:
    """The conditions' struct fields are handed to DuckDB alone (not the whole nested
    ``userIdentity``), with the same matches, nulls included."""
    t0 = datetime(2026, 11, 2, tzinfo=UTC)

    def who(kind: str | None, mfa: str | None) -> dict[str, Any] | None:
        if kind is None:
            return None
        context = None if mfa is None else {"attributes": {"mfaAuthenticated": mfa}}
        return {"type": kind, "arn": f"arn:aws:sts::1:{kind}", "sessionContext": context}

    people = [("AssumedRole", "false"), ("AssumedRole", "true"), ("IAMUser", "false"), (None, None)]
    batch = pa.RecordBatch.from_pylist(
        [
            {"eventTime": t0, "eventName": "GetObject", "userIdentity": who(k, m), "_pos": i}
            for i, (k, m) in enumerate([*people, ("AssumedRole", None)])
        ],
        schema=CLOUDTRAIL,
    )
    no_mfa = EventDetection(
        meta("no_mfa"),
        where='"userIdentity"."sessionContext"."attributes"."mfaAuthenticated" = \'false\' '
        'AND "userIdentity"."type" = \'AssumedRole\'',
    )
    anyone = EventDetection(meta("anyone"), where='"userIdentity" IS NULL')
    engine = Engine([no_mfa, anyone])
    hits = engine.run("cloudtrail", batch, "o")
    assert sorted((h.detection_id, h.position) for h in hits) == [
        ("anyone", "record 3"),
        ("no_mfa", "record 0"),
    ]
    named = engine._columns_named(no_mfa.where)
    assert named == {
        "userIdentity": {("sessionContext", "attributes", "mfaAuthenticated"), ("type",)}
    }
    only = _only(batch, named)
    assert only.schema.names == ["userIdentity"]
    assert [f.name for f in only.schema.field("userIdentity").type] == ["type", "sessionContext"]
