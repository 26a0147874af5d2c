"""Windowed detections' state, kept in DuckDB tables and saved as Arrow deltas.

For each :class:`~trailguard.detect.detection.WindowDetection` the engine keeps
two tables in its in-process DuckDB:

* ``values``: the distinct values seen per (key, window) - one row each;
* ``cells``: per (key, window) the earliest and latest event time and the
  columns of the earliest row (ties broken by value), which become the hit's
  details and evidence.

Every merge is a set union, a min, a max or an arg-min, so the state - and the
hits it raises - do not depend on batch size or the order rows arrive in.

What an object changed leaves the engine as a :class:`WindowDelta`: the new
values and the changed cells, as Arrow tables, which the store writes in that
object's transaction (one row, Arrow IPC).  Loading a store replays its deltas;
at the end of a scan the state is compacted into one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from trailguard.detect.detection import WindowDetection
from trailguard.formats.schema import POS, SCHEMAS, TIME_COLUMN

KEY_SEP: Final = "\x1f"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class WindowDelta:
    """What one object (or a compaction) changed in a detection's window state."""

    detection_id: str
    values: pa.Table
    cells: pa.Table
    snapshot: bool = False

    @property
    def empty(self) -> bool:
        return bool(self.values.num_rows == 0 and self.cells.num_rows == 0)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


@dataclass(frozen=True, slots=True)
class WindowTables:
    """The SQL of one windowed detection's state; names and types come from metadata."""

    detection: WindowDetection
    n: int

    @property
    def values(self) -> str:
        return f"tg_window_values_{self.n}"

    @property
    def cells(self) -> str:
        return f"tg_window_cells_{self.n}"

    @property
    def staged(self) -> str:
        return f"tg_window_batch_{self.n}"

    @property
    def new_values(self) -> str:
        return f"tg_window_new_{self.n}"

    @property
    def dirty(self) -> str:
        return f"tg_window_dirty_{self.n}"

    @property
    def carry_columns(self) -> tuple[str, ...]:
        d = self.detection
        return tuple(dict.fromkeys((*d.key, *d.carry, POS)))

    def create(self) -> list[str]:
        """DDL for the state tables (types taken from the log type's schema)."""
        d = self.detection
        schema = SCHEMAS[d.meta.log_type]
        vtype = _duck_type(schema.field(d.distinct).type)
        carry = ", ".join(
            f"{quote(c)} {_duck_type(schema.field(c).type)}" for c in self.carry_columns
        )
        return [
            f"CREATE TABLE {self.values} (key VARCHAR, w BIGINT, v {vtype}, "
            "PRIMARY KEY (key, w, v))",
            f"CREATE TABLE {self.new_values} (key VARCHAR, w BIGINT, v {vtype})",
            f"CREATE TABLE {self.cells} (key VARCHAR, w BIGINT, first_ms BIGINT, "
            f"last_ms BIGINT, rank STRUCT(t BIGINT, v VARCHAR), obj VARCHAR, "
            f"carry STRUCT({carry}), PRIMARY KEY (key, w))",
            f"CREATE TABLE {self.dirty} (key VARCHAR, w BIGINT)",
        ]

    def stage(self, view: str) -> str:
        """The batch's matching rows, with key, window, value and rank (``$1``: object)."""
        d = self.detection
        ts = quote(TIME_COLUMN[d.meta.log_type])
        width = int(d.window.total_seconds() * 1000)
        key = " || chr(31) || ".join(f"coalesce(CAST({quote(k)} AS VARCHAR), '')" for k in d.key)
        v = quote(d.distinct)
        carry = ", ".join(f"{quote(c)} := {quote(c)}" for c in self.carry_columns)
        return (
            f"CREATE OR REPLACE TEMP TABLE {self.staged} AS SELECT {key} AS key, "
            f"(epoch_ms({ts}) // {width}) * {width} AS w, {v} AS v, epoch_ms({ts}) AS t, "
            f"struct_pack(t := epoch_ms({ts}), v := CAST({v} AS VARCHAR)) AS rank, "
            f"CAST($1 AS VARCHAR) AS obj, struct_pack({carry}) AS carry "
            f"FROM {view} WHERE ({d.where}) AND {ts} IS NOT NULL AND {v} IS NOT NULL"
        )

    def add_values(self, source: str) -> str:
        return (
            f"INSERT INTO {self.new_values} SELECT * FROM (INSERT OR IGNORE INTO {self.values} "
            f"SELECT DISTINCT key, w, v FROM {source} RETURNING key, w, v)"
        )

    def merge_cells(self, source: str) -> str:
        """Fold per-(key, window) aggregates of ``source`` rows into the cells."""
        return (
            f"INSERT INTO {self.cells} SELECT key, w, min(first_ms), max(last_ms), "
            f"min(rank), arg_min(obj, rank), arg_min(carry, rank) FROM {source} "
            f"GROUP BY key, w ON CONFLICT (key, w) DO UPDATE SET "
            f"first_ms = least({self.cells}.first_ms, EXCLUDED.first_ms), "
            f"last_ms = greatest({self.cells}.last_ms, EXCLUDED.last_ms), "
            f"obj = CASE WHEN EXCLUDED.rank < {self.cells}.rank "
            f"THEN EXCLUDED.obj ELSE {self.cells}.obj END, "
            f"carry = CASE WHEN EXCLUDED.rank < {self.cells}.rank "
            f"THEN EXCLUDED.carry ELSE {self.cells}.carry END, "
            f"rank = least({self.cells}.rank, EXCLUDED.rank)"
        )

    def staged_cells(self) -> str:
        """The staged batch as cell rows (so batches and deltas merge the same way)."""
        return f"SELECT key, w, t AS first_ms, t AS last_ms, rank, obj, carry FROM {self.staged}"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    raise TypeError(f"window state cannot keep a column of type {t}")
