"""Windowed detections' state, kept in DuckDB tables and saved as Arrow deltas.

For each :class:`~trailguard.detect.detection.WindowDetection` the engine keeps
two tables in its in-process DuckDB:

* ``values``: the distinct values seen per (key, window) - one row each;
* ``cells``: per (key, window) the earliest and latest event time and the
  columns of the earliest row (ties broken by value), which become the hit's
  details and evidence.

Every merge is a set union, a min, a max or an arg-min, so the state - and the
hits it raises - do not depend on batch size or the order rows arrive in.  The
one limit: windows older than the retention (in event time, behind the latest
event seen) are pruned, so the events of one window must arrive within that
retention of each other; S3's key order (by account, region, then date) keeps
them far closer than the 48-hour default.

What an object changed leaves the engine as a :class:`WindowDelta`: its
distinct values and its cell aggregates, as Arrow tables, which the store writes
in that object's transaction (one row, Arrow IPC).  Deltas may overlap - merging
is idempotent - so loading a store simply replays them; at the end of a scan
the state is compacted into one snapshot.

Both tables are split by event time into partitions of about ten minutes (see
:class:`WindowTables`), which keeps the work and memory of each object local.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from trailguard.detect.detection import WindowDetection
from trailguard.formats.schema import POS, SCHEMAS, TIME_COLUMN

KEY_SEP: Final = "\x1f"


def quote(name: str) -> str:
    """A DuckDB identifier for ``name``."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal of ``text`` (standard SQL: only ``'`` needs escaping)."""
    return "'" + text.replace("'", "''") + "'"


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


_IPC_OPTIONS: Final = pa.ipc.IpcWriteOptions(compression="lz4")


def to_ipc(table: pa.Table) -> bytes:
    table = table.combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


#: event time each partition of a detection's state covers (at least one window)
PARTITION_MS: Final = 600_000


@dataclass(frozen=True, slots=True)
class WindowTables:
    """The SQL of one windowed detection's state; names and types come from metadata.

    State is split by event time into partitions of about ten minutes (whole windows
    each, :attr:`span`), each its own pair of tables, so that what an object does
    touches one or two small tables: folding into, compacting and querying a
    partition never reads the others, older partitions can sit in DuckDB's spill
    files untouched, and pruning drops whole tables (which frees their memory, as
    deleting rows does not).

    Within a partition state is append-only - ``values`` and ``cells`` logs, no
    indexes, so a batch costs one append each - and compacted (deduplicated,
    merged) when its logs have grown to twice their compacted size.  Rows carry
    ``seq``, the number of the object that added them in this scan (-1 once
    loaded or compacted), so an object's delta is ``WHERE seq = n``.  Cells name
    their evidence object by a number (object paths are long); saved deltas carry
    the names.
    """

    detection: WindowDetection
    n: int

    @property
    def width(self) -> int:
        """A window's length (ms)."""
        return int(self.detection.window.total_seconds() * 1000)

    @property
    def span(self) -> int:
        """A partition's length (ms): whole windows, about :data:`PARTITION_MS`."""
        return self.width * max(1, PARTITION_MS // self.width)

    def partition(self, w: int) -> int:
        return w // self.span

    def bounds(self, p: int, column: str = "w") -> str:
        """The condition on the window start ``column`` of partition ``p``'s rows."""
        return f"{column} >= {p * self.span} AND {column} < {(p + 1) * self.span}"

    def values(self, p: int) -> str:
        return f"tg_window_values_{self.n}_{p}".replace("-", "m")

    def cells(self, p: int) -> str:
        return f"tg_window_cells_{self.n}_{p}".replace("-", "m")

    @property
    def staged(self) -> str:
        """The name the staged rows (Arrow, see :meth:`stage`) are folded from."""
        return f"tg_window_batch_{self.n}"

    @property
    def carry_columns(self) -> tuple[str, ...]:
        """Attributes kept per cell (key columns are in the key itself)."""
        d = self.detection
        return tuple(c for c in dict.fromkeys(d.carry) if c not in d.key and c != POS)

    def _carry(self, template: str) -> str:
        return "".join(
            ", " + template.format(q=quote(c), c=quote("c_" + c)) for c in self.carry_columns
        )

    def create(self, p: int) -> list[str]:
        """DDL for partition ``p``'s tables (types taken from the log type's schema)."""
        d = self.detection
        schema = SCHEMAS[d.meta.log_type]
        vtype = _duck_type(schema.field(d.distinct).type)
        carry = "".join(
            f", {quote('c_' + c)} {_duck_type(schema.field(c).type)}" for c in self.carry_columns
        )
        values = f"(key VARCHAR, w BIGINT, v {vtype}, seq BIGINT)"
        cells = (
            "(key VARCHAR, w BIGINT, first_ms BIGINT, last_ms BIGINT, rank BIGINT, "
            f"obj BIGINT, pos BIGINT{carry}, seq BIGINT)"
        )
        return [
            f"CREATE TABLE {self.values(p)} {values}",
            f"CREATE TABLE {self.cells(p)} {cells}",
        ]

    def drop(self, p: int) -> list[str]:
        return [f"DROP TABLE {self.values(p)}", f"DROP TABLE {self.cells(p)}"]

    def stage(self, view: str) -> str:
        """The batch's matching rows, with key, window, value and rank.  The engine keeps
        them as Arrow until it folds them: cheaper than appending them to a table.

        ``rank`` orders rows by event time, then by value, in one BIGINT (cheap to
        aggregate): milliseconds times 2**20 plus the value when it is an integer
        below 2**20 (ports, protocols), else 20 bits of the value's hash.
        """
        d = self.detection
        ts = quote(TIME_COLUMN[d.meta.log_type])
        width = self.width
        key = " || chr(31) || ".join(f"coalesce(CAST({quote(k)} AS VARCHAR), '')" for k in d.key)
        v = quote(d.distinct)
        vtype = SCHEMAS[d.meta.log_type].field(d.distinct).type
        if pa.types.is_integer(vtype):
            tie = f"CASE WHEN {v} >= 0 AND {v} < 1048576 THEN {v} ELSE hash({v}) % 1048576 END"
        else:
            tie = f"hash({v}) % 1048576"
        return (
            f"SELECT {key} AS key, "
            f"(epoch_ms({ts}) // {width}) * {width} AS w, {v} AS v, "
            f"epoch_ms({ts}) * 1048576 + CAST({tie} AS BIGINT) AS rank, {quote(POS)} AS pos"
            f"{self._carry('{q} AS {c}')} "
            f"FROM {view} WHERE ({d.where}) AND {ts} IS NOT NULL AND {v} IS NOT NULL"
        )

    def fold(self, p: int, obj: int, seq: int) -> list[str]:
        """Fold partition ``p``'s share of the staged rows (registered as :attr:`staged`)
        into its state (``obj``: the object's number, ``seq``: its sequence number in
        this scan, which marks its delta).  Carried attributes are per key in practice
        (an interface's account, VPC, instance); ``min`` keeps them deterministic when
        they are not."""
        rows = f"FROM {self.staged} WHERE {self.bounds(p)}"
        return [
            f"INSERT INTO {self.values(p)} SELECT DISTINCT key, w, v, {int(seq)} {rows}",
            f"INSERT INTO {self.cells(p)} SELECT key, w, min(rank) >> 20, max(rank) >> 20, "
            f"min(rank), {int(obj)}, arg_min(pos, rank){self._carry('min({c})')}, {int(seq)} "
            f"{rows} GROUP BY key, w",
        ]

    def distinct_values(self, source: str) -> str:
        """Value rows of ``source`` without duplicates."""
        return f"SELECT DISTINCT key, w, v, CAST(-1 AS BIGINT) AS seq FROM {source}"

    def merged_cells(self, source: str) -> str:
        """Cell rows of ``source`` merged per (key, window).  The earliest row is the one
        of least rank, then object number, then position, whatever the order of the
        rows (within one fold, rows come in an object's order, so the least position
        wins ties there too)."""
        return (
            f"SELECT key, w, min(first_ms) AS first_ms, max(last_ms) AS last_ms, "
            f"min(rank) AS rank, arg_min(obj, {{'r': rank, 'o': obj}}) AS obj, "
            f"arg_min(pos, {{'r': rank, 'o': obj, 'p': pos}}) AS pos"
            f"{self._carry('min({c}) AS {c}')}, CAST(-1 AS BIGINT) AS seq "
            f"FROM {source} GROUP BY key, w"
        )

    def cells_named(self, source: str, names: str) -> str:
        """Cell rows of ``source`` with object numbers replaced by names (for saving)."""
        return (
            f"SELECT c.key, c.w, c.first_ms, c.last_ms, c.rank, n.name AS obj, c.pos"
            f"{self._carry('c.{c}')} FROM {source} c JOIN {names} n ON c.obj = n.id"
        )

    def insert_loaded(self, p: int, values: str, cells: str, names: str) -> list[str]:
        """Partition ``p``'s share of saved rows: ``values`` as they are, ``cells`` with
        their object names replaced by numbers (from ``names``)."""
        return [
            f"INSERT INTO {self.values(p)} SELECT key, w, v, -1 FROM {values} "
            f"WHERE {self.bounds(p)}",
            f"INSERT INTO {self.cells(p)} SELECT c.key, c.w, c.first_ms, c.last_ms, c.rank, "
            f"n.id, c.pos{self._carry('c.{c}')}, -1 FROM {cells} c "
            f"JOIN {names} n ON c.obj = n.name WHERE {self.bounds(p, 'c.w')}",
        ]

    @staticmethod
    def loaded(source: str) -> str:
        """The rows of ``source`` as loaded state (``seq`` -1: not of the current object)."""
        return f"SELECT * REPLACE (CAST(-1 AS BIGINT) AS seq) FROM {source}"

    def seal(self, p: int, values_file: str, cells_file: str, *, merge: bool) -> list[str]:
        """Partition ``p`` written to Parquet files, compacted if ``merge`` (else as it is,
        which is half the work), and its tables dropped."""
        values, cells = self.values(p), self.cells(p)
        if merge:
            values = f"({self.distinct_values(values)})"
            cells = f"({self.merged_cells(cells)})"
        else:
            values, cells = f"({self.loaded(values)})", f"({self.loaded(cells)})"
        return [
            f"COPY {values} TO {literal(values_file)} (FORMAT parquet)",
            f"COPY {cells} TO {literal(cells_file)} (FORMAT parquet)",
            *self.drop(p),
        ]

    def unseal(self, p: int, values_file: str, cells_file: str) -> list[str]:
        """Partition ``p``'s tables again, from the files :meth:`seal` wrote."""
        return [
            *self.create(p),
            f"INSERT INTO {self.values(p)} SELECT * FROM read_parquet({literal(values_file)})",
            f"INSERT INTO {self.cells(p)} SELECT * FROM read_parquet({literal(cells_file)})",
        ]

    def compact(self, p: int, since: int | None = None) -> list[str]:
        """Partition ``p`` deduplicated and merged (and, with ``since``, without the
        windows that start before it)."""
        keep = "" if since is None else f" WHERE w >= {int(since)}"
        values, cells = self.values(p), self.cells(p)
        return [
            f"CREATE OR REPLACE TABLE {values} AS {self.distinct_values(values + keep)}",
            f"CREATE OR REPLACE TABLE {cells} AS "
            f"{self.merged_cells(f'(SELECT * FROM {cells}{keep})')}",
        ]


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
