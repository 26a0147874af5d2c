"""The engine: runs every detection of a log type over each batch, in DuckDB.

Per-event detections are one ``SELECT * FROM events WHERE <condition>`` each;
only the rows that match ever become Python objects.  Windowed detections are
one ``GROUP BY key, window`` each, folded into :class:`WindowCell` state.  A
detection that fails is recorded against its id and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from trailguard.detect.detection import Detection, EventDetection, WindowDetection
from trailguard.detect.hit import Hit, make_hit
from trailguard.detect.windows import WindowCell
from trailguard.formats.schema import POS, TIME_COLUMN, LogType

VIEW = "events"
_FLAG = "__trailguard_match_"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def window_sql(d: WindowDetection) -> str:
    """The grouping query of a windowed detection (built from its own metadata only)."""
    ts = _q(TIME_COLUMN[d.meta.log_type])
    width_ms = int(d.window.total_seconds() * 1000)
    keys = ", ".join(f"{_q(k)} AS k{i}" for i, k in enumerate(d.key))
    key_refs = ", ".join(f"k{i}" for i in range(len(d.key)))
    dist = _q(d.distinct)
    order = f"(epoch_ms({ts}), CAST({dist} AS VARCHAR))"
    carry_cols = tuple(dict.fromkeys((*d.carry, *d.key, POS)))
    carry = ", ".join(f"arg_min({_q(c)}, {order}) AS {_q('c_' + c)}" for c in carry_cols)
    # built from the detection's own metadata (trusted code), never from event text
    return (
        f"SELECT {keys}, (epoch_ms({ts}) // {width_ms}) * {width_ms} AS w, "  # noqa: S608
        f"list(DISTINCT {dist}) AS vals, min(epoch_ms({ts})) AS first_ms, "
        f"max(epoch_ms({ts})) AS last_ms, min({order}) AS rank, {carry} "
        f"FROM {VIEW} WHERE ({d.where}) AND {ts} IS NOT NULL AND {dist} IS NOT NULL "
        f"GROUP BY {key_refs}, w"
    )


class Engine:
    """Holds the detections, a DuckDB connection and the window state of one scan."""

    def __init__(self, detections: Sequence[Detection], cells: Iterable[WindowCell] = ()) -> None:
        self.con = duckdb.connect(config={"threads": 2})
        self.by_type: dict[LogType, list[Detection]] = defaultdict(list)
        for d in detections:
            self.by_type[d.meta.log_type].append(d)
        self.window_sql = {
            d.meta.id: window_sql(d) for d in detections if isinstance(d, WindowDetection)
        }
        self.windows: dict[str, WindowDetection] = {
            d.meta.id: d for d in detections if isinstance(d, WindowDetection)
        }
        self.cells: dict[tuple[str, str, int], WindowCell] = {
            (c.detection_id, c.key, c.window_start): c for c in cells
        }
        self.dirty: set[tuple[str, str, int]] = set()
        self.errors: dict[str, list[str]] = defaultdict(list)

    def run(self, log_type: LogType, batch: pa.RecordBatch, obj: str) -> list[Hit]:
        """Hits of the per-event detections over ``batch``; window state is updated."""
        detections = self.by_type.get(log_type)
        if not detections or batch.num_rows == 0:
            return []
        hits: list[Hit] = []
        self.con.register(VIEW, batch)
        try:
            events = [d for d in detections if isinstance(d, EventDetection)]
            if events:
                hits.extend(self._events(events, obj))
            for d in detections:
                if isinstance(d, WindowDetection):
                    try:
                        self._window(d, obj)
                    except Exception as exc:  # a failing detection never stops the run
                        self._error(d, obj, exc)
        finally:
            self.con.unregister(VIEW)
        return hits

    def _error(self, d: Detection, obj: str, exc: Exception) -> None:
        self.errors[d.meta.id].append(f"{obj}: {type(exc).__name__}: {exc}")

    def _events(self, detections: list[EventDetection], obj: str) -> list[Hit]:
        """All per-event conditions in one scan of the batch; one flag column each.

        If the combined query fails, each detection runs alone so that only the
        broken one is recorded as failing.
        """
        flags = ", ".join(
            f"coalesce(({d.where}), false) AS {_q(f'{_FLAG}{i}')}" for i, d in enumerate(detections)
        )
        any_flag = " OR ".join(f"coalesce(({d.where}), false)" for d in detections)
        sql = f"SELECT *, {flags} FROM {VIEW} WHERE {any_flag}"  # noqa: S608 - detections' own SQL
        try:
            matched = self.con.sql(sql).to_arrow_table()
        except Exception:
            hits: list[Hit] = []
            for d in detections:
                try:
                    hits.extend(self._event(d, obj))
                except Exception as exc:  # a failing detection never stops the run
                    self._error(d, obj, exc)
            return hits
        if matched.num_rows == 0:
            return []
        hits = []
        for row in matched.to_pylist():
            which = [i for i in range(len(detections)) if row.pop(f"{_FLAG}{i}")]
            for i in which:
                d = detections[i]
                try:
                    if d.refine(row):
                        hits.append(make_hit(d.meta, row, obj, d.values(row)))
                except Exception as exc:  # a failing refinement is the detection's failure
                    self._error(d, obj, exc)
        return hits

    def _event(self, d: EventDetection, obj: str) -> list[Hit]:
        sql = f"SELECT * FROM {VIEW} WHERE {d.where}"  # noqa: S608 - a detection's own condition
        matched = self.con.sql(sql).to_arrow_table()
        if matched.num_rows == 0:
            return []
        return [
            make_hit(d.meta, row, obj, d.values(row))
            for row in matched.to_pylist()
            if d.refine(row)
        ]

    def _window(self, d: WindowDetection, obj: str) -> None:
        groups = self.con.sql(self.window_sql[d.meta.id]).to_arrow_table()
        if groups.num_rows == 0:
            return
        for g in groups.to_pylist():
            keyvals = [g[f"k{i}"] for i in range(len(d.key))]
            key = json.dumps(keyvals, default=str)
            ident = (d.meta.id, key, int(g["w"]))
            cell = self.cells.get(ident)
            if cell is None:
                cell = self.cells[ident] = WindowCell(d.meta.id, key, int(g["w"]))
            carry = {k[2:]: v for k, v in g.items() if k.startswith("c_")}
            rank_ms, rank_val = g["rank"].values() if isinstance(g["rank"], dict) else g["rank"]
            if cell.merge(
                g["vals"],
                int(g["first_ms"]),
                int(g["last_ms"]),
                _jsonable(carry),
                (int(rank_ms), str(rank_val)),
                obj,
                max(d.keep, d.threshold),
            ):
                self.dirty.add(ident)

    def take_window_changes(self) -> tuple[list[WindowCell], list[Hit]]:
        """Cells changed since the last call, and the hits of those at or over threshold.

        Called once per object, so the object's transaction holds both.
        """
        cells, hits = [], []
        for ident in sorted(self.dirty):
            cell = self.cells[ident]
            d = self.windows[cell.detection_id]
            if len(cell.values) >= d.threshold:
                cell.fired = True
                hits.append(self._window_hit(d, cell))
            cells.append(cell)
        self.dirty.clear()
        return cells, hits

    def _window_hit(self, d: WindowDetection, cell: WindowCell) -> Hit:
        row: dict[str, Any] = dict(cell.carry)
        first = datetime.fromtimestamp(cell.first_ms / 1000, tz=UTC)
        last = datetime.fromtimestamp(cell.last_ms / 1000, tz=UTC)
        row[TIME_COLUMN[d.meta.log_type]] = first
        sample = sorted(cell.values, key=lambda v: (str(type(v)), v))
        row["distinct_count"] = len(cell.values)
        hit = make_hit(d.meta, row, cell.object, {**d.extra, "distinct_count": len(cell.values)})
        return dataclasses.replace(
            hit,
            first_seen=first,
            last_seen=last,
            event_key=f"{d.meta.id}|{cell.key}|{cell.window_start}",
            additional_info={
                **hit.additional_info,
                **d.extra,
                "windowStart": datetime.fromtimestamp(cell.window_start / 1000, tz=UTC).isoformat(),
                "windowSeconds": int(d.window.total_seconds()),
                "threshold": d.threshold,
                "distinctCount": len(cell.values),
                "distinctValues": sample[:100],
            },
        )

    def prune(self, before_ms: int) -> None:
        """Forget windows that started before ``before_ms`` (the store prunes its copy)."""
        for ident in [i for i in self.cells if i[2] < before_ms]:
            del self.cells[ident]
            self.dirty.discard(ident)

    def close(self) -> None:
        self.con.close()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out
