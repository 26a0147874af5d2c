"""VPC and Transit Gateway flow logs: space-separated lines -> the VPCFLOW schema.

Which field is in which position comes from, in this order:

1. the header line that AWS writes at the top of each S3 object (field names
   separated by spaces; ``${name}`` is accepted too): the first non-blank line is
   a header when every token is a lowercase field-name-shaped word and at least
   one of them is a known field;
2. for headerless lines (as exported from CloudWatch Logs),
   :attr:`ReadOptions.flow_format <trailguard.formats.base.ReadOptions.flow_format>`
   (``--flow-format``) when it is given and names as many fields as the first
   non-blank line has;
3. otherwise the default version-2 format when that line has its 14 fields and
   starts with a number (so a malformed first line decides, too), and failing
   that the object is refused with :class:`~trailguard.errors.UnknownFormatError`.

Fields that the header (or ``--flow-format``) names but that the schema does not
know — fields newer than this module — are skipped without a reject: every
line still has to have the right number of fields, the known ones are read, and
rejecting every line (or counting the object as bad) for a column nobody reads
would be noise.  A known field named twice refuses the object.

``-`` is null (``NODATA``/``SKIPDATA`` records are kept, with their
``log_status``).  Integer fields must be plain ASCII decimal digits within
their column's range (ports 0-65535, protocol 0-255, ``start``/``end`` up to
the year 9999, the others up to their integer type's maximum); a line that
breaks this, has the wrong number of fields, has invalid UTF-8 in a field that
is read, has a carriage return other than a CRLF line end, or is longer than
:data:`MAX_LINE` bytes is rejected as ``line N`` (1-based, counting every line
of the object, the header included) and the rest is read.  Blank lines are
skipped.  Rejected and blank lines never shift ``_pos``.

How it stays fast and bounded: the chunks are cut into blocks of about
:data:`BLOCK_BYTES` of whole lines, and each block goes to pyarrow's CSV reader
(space-delimited, no quoting) in the cheapest way that is exact:

- integers parsed by pyarrow directly, when the block has none of the
  spellings pyarrow accepts but this module does not (tabs, ``0x``) and every
  line parses and is in range: ``_pos`` is then the block's first line + row;
- otherwise integers read as strings and checked vectorised with
  :mod:`pyarrow.compute`, so bad values reject their rows only;
- when lines were skipped or malformed (blank, wrong field count, a bare
  carriage return, invalid UTF-8), the block is split into lines in Python, the
  bad ones rejected, and the good ones parsed again with their line numbers.

Every tier accepts and rejects the same lines, so the output does not depend on
how the bytes were chunked; a block starts at the tier its predecessor needed,
so a file with a bad line every few thousand does not parse each block twice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from trailguard.errors import ConfigError, FormatError, UnknownFormatError
from trailguard.formats.base import ReadContext
from trailguard.formats.cloudtrail import rebatch
from trailguard.formats.schema import FLOW_DEFAULT_FORMAT, FLOW_FIELDS, POS, VPCFLOW

__all__ = ["BLOCK_BYTES", "MAX_LINE", "FlowLogReader", "parse_flow_format"]

#: Whole lines handed to the CSV parser at once.
BLOCK_BYTES: Final = 8 * 1024 * 1024
#: Longer lines are rejected (and never held whole in memory).
MAX_LINE: Final = 1024 * 1024

_BOM: Final = b"\xef\xbb\xbf"
_TOKEN = re.compile(r"\$\{([a-z][a-z0-9-]*)\}|([a-z][a-z0-9-]*)")

_PARSE: Final = pcsv.ParseOptions(delimiter=" ", quote_char=False)
#: in pyarrow's message for a row with the wrong number of fields (only a shortcut)
_COLUMN_COUNT: Final = "columns, got"

_I32_MAX: Final = 2**31 - 1
_I64_MAX: Final = 2**63 - 1
#: 9999-12-31T23:59:59Z: later seconds do not fit a datetime downstream.
_TS_MAX: Final = 253_402_300_799
_LIMITS: Final[dict[str, int]] = {
    "srcport": 65_535,
    "dstport": 65_535,
    "protocol": 255,
    "start": _TS_MAX,
    "end": _TS_MAX,
}


def _limit(aws: str, typ: pa.DataType) -> int:
    if aws in _LIMITS:
        return _LIMITS[aws]
    return _I32_MAX if typ == pa.int32() else _I64_MAX


def parse_flow_format(text: str) -> tuple[str, ...]:
    """Parse a flow log format as AWS writes it (``${version} ${account-id} ...``).

    Bare space-separated names (``version account-id ...``, as in a header line)
    are accepted too.  Raises :class:`ConfigError` for an empty format, a
    malformed token, a field named twice, or fields this schema does not know.
    """
    names: list[str] = []
    for token in text.split():
        m = _TOKEN.fullmatch(token)
        if m is None:
            raise ConfigError(f"flow log format: malformed field {token[:60]!r}")
        names.append(m.group(1) or m.group(2))
    if not names:
        raise ConfigError("flow log format: no fields")
    unknown = [n for n in names if n not in FLOW_FIELDS]
    if unknown:
        raise ConfigError(f"flow log format: unknown field(s): {', '.join(unknown)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"flow log format: field(s) named twice: {', '.join(twice)}")
    return tuple(names)


@dataclass(frozen=True, slots=True)
class _Column:
    index: int  # position in the line
    aws: str
    name: str  # schema column
    type: pa.DataType
    limit: int | None  # integer columns: largest accepted value


@dataclass(frozen=True, slots=True)
class _Layout:
    """The fields of one object's lines, and the parser options that read them."""

    nfields: int
    columns: tuple[_Column, ...]
    read_names: tuple[str, ...]
    typed: pcsv.ConvertOptions
    strings: pcsv.ConvertOptions

    @classmethod
    def of(cls, names: Sequence[str], position: str) -> _Layout:
        columns: list[_Column] = []
        seen: set[str] = set()
        for i, raw in enumerate(names):
            m = _TOKEN.fullmatch(raw)
            aws = (m.group(1) or m.group(2)) if m else raw
            if aws not in FLOW_FIELDS:
                continue  # a field newer than the schema: skipped, see the module doc
            if aws in seen:
                raise UnknownFormatError(f"flow log format names {aws!r} twice", position)
            seen.add(aws)
            col, typ = FLOW_FIELDS[aws]
            is_int = pa.types.is_integer(typ) or pa.types.is_timestamp(typ)
            columns.append(_Column(i, aws, col, typ, _limit(aws, typ) if is_int else None))
        if not columns:
            raise UnknownFormatError("flow log format names no known field", position)
        read_names = tuple(f"f{i}" for i in range(len(names)))
        include = [read_names[c.index] for c in columns]

        def convert(typed: bool) -> pcsv.ConvertOptions:
            types = {
                read_names[c.index]: pa.uint64() if typed and c.limit is not None else pa.string()
                for c in columns
            }
            return pcsv.ConvertOptions(
                column_types=types,
                include_columns=include,
                null_values=["-"],
                strings_can_be_null=True,
            )

        return cls(len(names), tuple(columns), read_names, convert(True), convert(False))


@dataclass(slots=True)
class _Parsed:
    """One block's good rows (columns by schema name, line numbers) and its rejects."""

    columns: dict[str, Any]
    pos: Any
    rejects: list[tuple[int, str]]


@dataclass(slots=True)
class _Hints:
    """Which tier the previous block needed, to try it first: a hint only, since
    every tier reads the same lines the same way."""

    strings_first: bool = False
    lines_first: bool = False


@dataclass(frozen=True, slots=True)
class FlowLogReader:
    """Reads VPC and Transit Gateway flow logs (every format version, header or not).

    ``block_bytes`` is how much whole-line text is parsed at once (memory is a
    few times this); ``max_line`` the longest accepted line; ``use_threads``
    lets pyarrow parse a block on several cores.
    """

    block_bytes: int = BLOCK_BYTES
    max_line: int = MAX_LINE
    # a scan already reads on its own thread beside the detections; on a small
    # machine pyarrow's own pool would only make them fight over the cores
    use_threads: bool = field(default_factory=lambda: (os.cpu_count() or 1) > 2)

    def read(self, chunks: Iterator[bytes], ctx: ReadContext) -> Iterator[pa.RecordBatch]:
        # Blocks are cut by bytes, not rows: regrouped, every batch but the object's last is
        # full, so a block's remainder does not become a small batch that costs the
        # enrichment and the detections as much fixed work as a full one.
        yield from rebatch(self._tables(chunks, ctx), ctx.options.batch_rows)

    def _tables(self, chunks: Iterator[bytes], ctx: ReadContext) -> Iterator[pa.RecordBatch]:
        """The good rows of each block, as the batches of its table (of any size)."""
        cache = _Cache()
        hints = _Hints()
        layout: _Layout | None = None
        for start, block, nlines, early in self._blocks(chunks):
            rejects = early
            if start == 1 and block.startswith(_BOM):
                block = block[len(_BOM) :]
            if layout is None and block:
                found = _first_line(block)
                if found is not None:
                    offset, skipped, line = found
                    try:
                        layout, is_header = _detect(line, start + skipped, ctx)
                    except UnknownFormatError:
                        _flush(rejects, ctx)
                        raise
                    if is_header:
                        skipped += 1
                        end = block.find(b"\n", offset)
                        offset = len(block) if end < 0 else end + 1
                    block = block[offset:]
                    start += skipped
                    nlines -= min(skipped, nlines)
            table = None
            if layout is not None and block:
                parsed = self._parse(block, start, nlines, layout, cache, hints)
                if parsed is not None:
                    rejects = rejects + parsed.rejects
                    table = _assemble(parsed, cache)
            _flush(rejects, ctx)
            if table is not None and table.num_rows:
                yield from table.to_batches()

    # -- cutting the stream into blocks of whole lines ---------------------------------

    def _blocks(
        self, chunks: Iterator[bytes]
    ) -> Iterator[tuple[int, bytes, int, list[tuple[int, str]]]]:
        """Yield ``(first line number, bytes, complete lines, early rejects)``.

        A line longer than ``max_line`` is rejected here and replaced by an empty
        line (so later line numbers stay right); pieces are cut to ``max_line``
        so every such line spans pieces and is measured exactly.
        """
        max_line = self.max_line
        too_long = f"line longer than {max_line} bytes"
        parts: list[bytes] = []
        size = 0
        nlines = 0  # complete lines in parts
        start = 1
        tail: list[bytes] = []  # the line being completed
        tail_len = 0
        skipping = False  # inside a too-long line
        early: list[tuple[int, str]] = []
        for chunk in chunks:
            for off in range(0, len(chunk), max_line):
                piece = chunk if len(chunk) <= max_line else chunk[off : off + max_line]
                last = piece.rfind(b"\n")
                if last < 0:
                    if not skipping:
                        tail.append(piece)
                        tail_len += len(piece)
                        if tail_len > max_line:
                            early.append((start + nlines, too_long))
                            skipping = True
                            tail, tail_len = [], 0
                    continue
                first = piece.find(b"\n")
                if skipping or tail_len + first > max_line:
                    if not skipping:
                        early.append((start + nlines, too_long))
                    skipping = False
                    parts.append(b"\n")
                    size += 1
                    nlines += 1
                    body = piece[first + 1 : last + 1]
                else:
                    parts.extend(tail)
                    size += tail_len
                    body = piece if last + 1 == len(piece) else piece[: last + 1]
                tail, tail_len = [], 0
                parts.append(body)
                size += len(body)
                nlines += _newlines(body)
                if last + 1 < len(piece):
                    tail = [piece[last + 1 :]]
                    tail_len = len(piece) - last - 1
                if size >= self.block_bytes:
                    yield start, b"".join(parts), nlines, early
                    start += nlines
                    parts, size, nlines, early = [], 0, 0, []
        if tail and not skipping:
            parts.extend(tail)  # a last line without a newline is still a line
        if parts or early:
            yield start, b"".join(parts), nlines, early

    # -- parsing one block --------------------------------------------------------------

    def _read_csv(self, data: bytes, layout: _Layout, typed: bool) -> pa.Table:
        # No invalid_row_handler: pyarrow decodes the row's text for it and fails,
        # unraisably, on invalid UTF-8; a malformed row raising sends its block to the
        # exact tier, which is what the handler would have done.
        return pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(
                column_names=list(layout.read_names),
                use_threads=self.use_threads,
                block_size=self._csv_block_size(len(data)),
            ),
            parse_options=_PARSE,
            convert_options=layout.typed if typed else layout.strings,
        )

    def _csv_block_size(self, size: int) -> int:
        # one parser chunk per core; never smaller than two maximal lines
        share = size // max(1, pa.cpu_count()) + 1 if self.use_threads else size + 1
        return max(share, 2 * self.max_line + 64, 1 << 16)

    def _parse(
        self, block: bytes, start: int, nlines: int, layout: _Layout, cache: _Cache, hints: _Hints
    ) -> _Parsed | None:
        rows = nlines + (0 if block.endswith(b"\n") else 1)
        # pyarrow also ends a line at a bare "\r": such blocks need the exact tier
        lone_cr = b"\r" in block and block.count(b"\r") != block.count(b"\r\n")
        if not lone_cr and not hints.lines_first:
            parsed = self._convert(block, layout, cache.arange(start, rows), hints)
            if parsed is not None:
                return parsed
        return self._parse_lines(block, start, layout, cache, hints)

    def _convert(self, data: bytes, layout: _Layout, pos: Any, hints: _Hints) -> _Parsed | None:
        """Parse lines numbered ``pos``; None if they are not one row each (see _parse_lines)."""
        rows = len(pos)
        # pyarrow reads "0x1f" and tab-padded numbers as integers; this module does not.
        # (One-byte searches first: they are memchr, and "0x" is a slow search.)
        if not hints.strings_first and not (
            b"\t" in data or (b"x" in data and b"0x" in data) or (b"X" in data and b"0X" in data)
        ):
            try:
                table = self._read_csv(data, layout, typed=True)
            except pa.ArrowInvalid as exc:
                if _COLUMN_COUNT in str(exc):
                    return None
                # a bad value or invalid UTF-8: the string tier finds which rows
            else:
                if table.num_rows != rows:  # blank lines were skipped
                    return None
                parsed = _typed(table, layout, pos)
                if parsed is not None:
                    return parsed
        try:
            table = self._read_csv(data, layout, typed=False)
        except pa.ArrowInvalid:
            return None
        if table.num_rows != rows:
            return None
        parsed = _checked(table, layout, pos)
        hints.strings_first = bool(parsed.rejects)
        return parsed

    def _parse_lines(
        self, block: bytes, start: int, layout: _Layout, cache: _Cache, hints: _Hints
    ) -> _Parsed | None:
        """The exact tier: find blank and malformed lines in Python, parse the rest."""
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        has_cr = b"\r" in block
        if has_cr:
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        spaces = layout.nfields - 1
        odd = [i for i, line in enumerate(lines) if not line or line.count(b" ") != spaces]
        if has_cr:
            odd += [i for i, line in enumerate(lines) if b"\r" in line]
        if not block.isascii():
            odd += [i for i, line in enumerate(lines) if not line.isascii()]
        rejects: list[tuple[int, str]] = []
        drop: list[int] = []
        for i in sorted(set(odd)):
            line = lines[i]
            if line:
                found = line.count(b" ") + 1
                if found != layout.nfields:
                    reason = f"expected {layout.nfields} fields, found {found}"
                elif b"\r" in line:
                    reason = "carriage return inside the line"
                elif (bad := _bad_utf8(line, layout)) is not None:
                    reason = f"invalid UTF-8 in {bad}"
                else:
                    continue  # non-ASCII, but valid where it is read
                rejects.append((start + i, reason))
            drop.append(i)
        hints.lines_first = bool(drop)
        if drop:
            kept: list[bytes] = []
            ranges = []
            prev = 0
            for i in [*drop, len(lines)]:
                if i > prev:
                    kept += lines[prev:i]
                    ranges.append(cache.arange(start + prev, i - prev))
                prev = i + 1
            lines = kept
        else:
            ranges = [cache.arange(start, len(lines))]
        if not lines:
            return _Parsed({}, None, rejects) if rejects else None
        pos = pa.concat_arrays(ranges) if len(ranges) > 1 else ranges[0]
        lines.append(b"")
        parsed = self._convert(b"\n".join(lines), layout, pos, hints)
        if parsed is None:  # pragma: no cover - every line was checked above
            raise FormatError("flow log block unreadable", f"line {start}")
        parsed.rejects = rejects + parsed.rejects
        return parsed


def _newlines(data: bytes) -> int:
    """How many ``\n`` bytes ``data`` holds: numpy counts them without holding the GIL,
    which ``bytes.count`` does (the reader shares the GIL with two other stages)."""
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == _NEWLINE))


_NEWLINE: Final = np.uint8(10)


# -- detecting the layout -------------------------------------------------------------


def _first_line(block: bytes) -> tuple[int, int, bytes] | None:
    """The first non-blank line: (byte offset, lines before it, its text)."""
    offset = 0
    skipped = 0
    while offset < len(block):
        end = block.find(b"\n", offset)
        if end < 0:
            end = len(block)
        line = block[offset:end]
        if line.strip():
            return offset, skipped, line[:-1] if line.endswith(b"\r") else line
        offset = end + 1
        skipped += 1
    return None


def _detect(line: bytes, number: int, ctx: ReadContext) -> tuple[_Layout, bool]:
    """The layout of an object from its first non-blank line (and whether it is a header)."""
    position = f"line {number}"
    tokens = line.split()
    if line.isascii():
        names = [_TOKEN.fullmatch(t.decode("ascii")) for t in tokens]
        fields = [m.group(1) or m.group(2) for m in names if m is not None]
        if len(fields) == len(tokens) and any(f in FLOW_FIELDS for f in fields):
            return _Layout.of(fields, position), True
    found = line.count(b" ") + 1
    flow_format = ctx.options.flow_format
    # an explicit --flow-format that fits the lines wins over the default guess
    if flow_format is not None and len(flow_format) == found:
        return _Layout.of(flow_format, position), False
    if found == len(FLOW_DEFAULT_FORMAT) and tokens[0].isascii() and tokens[0].isdigit():
        return _Layout.of(FLOW_DEFAULT_FORMAT, position), False
    if flow_format is None:
        raise UnknownFormatError(
            f"flow log has no header line and its lines have {found} fields, not the default "
            f"format's {len(FLOW_DEFAULT_FORMAT)}: give their field list with --flow-format",
            position,
        )
    if len(flow_format) != found:
        raise UnknownFormatError(
            f"flow log lines have {found} fields but --flow-format names {len(flow_format)}",
            position,
        )
    return _Layout.of(flow_format, position), False


def _bad_utf8(line: bytes, layout: _Layout) -> str | None:
    """The first field that is read and is not UTF-8 (fields that are skipped may be anything)."""
    values = line.split(b" ")
    for col in layout.columns:
        try:
            values[col.index].decode("utf-8")
        except UnicodeDecodeError:
            return col.aws
    return None


# -- checking and converting ----------------------------------------------------------


def _typed(table: pa.Table, layout: _Layout, pos: Any) -> _Parsed | None:
    """Columns of a block whose integers pyarrow parsed; None when one is out of range."""
    columns: dict[str, Any] = {}
    for col in layout.columns:
        values = table.column(f"f{col.index}")
        if col.limit is not None:
            top = pc.max(values).as_py()
            if top is not None and top > col.limit:
                return None
            values = _cast(values, col.type)
        columns[col.name] = values
    return _Parsed(columns, pos, [])


def _checked(table: pa.Table, layout: _Layout, pos: Any) -> _Parsed:
    """Columns of a block read as strings: integers checked and cast, bad rows rejected."""
    columns: dict[str, Any] = {}
    reasons: dict[int, str] = {}
    any_bad: Any = None
    for col in layout.columns:
        values = table.column(f"f{col.index}")
        if col.limit is not None:
            ints, bad = _to_int(values, col.limit)
            if bad is not None:
                _explain(values, bad, col, reasons)
                any_bad = bad if any_bad is None else pc.or_(any_bad, bad)
            values = _cast(ints, col.type)
        columns[col.name] = values
    if any_bad is None:
        return _Parsed(columns, pos, [])
    keep = pc.invert(any_bad)
    if isinstance(keep, pa.ChunkedArray):
        keep = keep.combine_chunks()
    columns = {name: values.filter(keep) for name, values in columns.items()}
    numbers = pos.to_pylist()
    rejects = [(numbers[row], reason) for row, reason in reasons.items()]
    return _Parsed(columns, pos.filter(keep), rejects)


def _to_int(values: Any, limit: int) -> tuple[Any, Any]:
    """Decimal strings -> uint64 within ``limit``; returns (values, bad-row mask or None)."""
    digits = pc.ascii_is_decimal(values)
    if pc.all(digits).as_py() is not False:
        try:
            ints = pc.cast(values, pa.uint64())
        except pa.ArrowInvalid:
            pass  # beyond uint64
        else:
            top = pc.max(ints).as_py()
            if top is None or top <= limit:
                return ints, None
    # compare the digits without leading zeros with the limit, as text
    top_text = str(limit)
    trimmed = pc.utf8_ltrim(values, characters="0")
    length = pc.binary_length(trimmed)
    in_range = pc.or_(
        pc.less(length, len(top_text)),
        pc.and_(pc.equal(length, len(top_text)), pc.less_equal(trimmed, top_text)),
    )
    bad = pc.invert(pc.fill_null(pc.and_(digits, in_range), True))
    ints = pc.cast(pc.if_else(bad, pa.scalar(None, pa.string()), values), pa.uint64())
    return ints, bad


def _explain(values: Any, bad: Any, col: _Column, reasons: dict[int, str]) -> None:
    rows = pc.indices_nonzero(bad).to_pylist()
    shown = values.take(pa.array(rows, pa.int64())).to_pylist()
    for row, value in zip(rows, shown, strict=True):
        if row in reasons:
            continue
        text = repr(value[:40]) + ("…" if len(value) > 40 else "")
        if value.isascii() and value.isdigit():
            reasons[row] = f"{col.aws} {text} out of range (max {col.limit})"
        else:
            reasons[row] = f"{col.aws} {text} is not a non-negative integer"


def _cast(values: Any, typ: pa.DataType) -> Any:
    # values were checked against the column's limit, so unchecked casts are exact
    if pa.types.is_timestamp(typ):
        return pc.cast(pc.cast(values, pa.int64(), safe=False), typ)
    return pc.cast(values, typ, safe=False)


# -- building the output ----------------------------------------------------------------


class _Cache:
    """Reusable all-null columns, sliced per block (one per object)."""

    __slots__ = ("nulls",)

    def __init__(self) -> None:
        self.nulls: dict[pa.DataType, pa.Array] = {}

    def null(self, typ: pa.DataType, n: int) -> pa.Array:
        have = self.nulls.get(typ)
        if have is None or len(have) < n:
            grown = max(n, 2 * len(have)) if have is not None else n
            have = self.nulls[typ] = pa.nulls(grown, typ)
        return have.slice(0, n)

    def arange(self, start: int, n: int) -> pa.Array:
        """``start .. start+n-1`` as int64 (numpy's, which Arrow takes without a copy)."""
        return pa.array(np.arange(start, start + n, dtype=np.int64))


def _flush(rejects: list[tuple[int, str]], ctx: ReadContext) -> None:
    rejects.sort()
    for line, reason in rejects:
        ctx.reject(f"line {line}", reason)


def _assemble(parsed: _Parsed, cache: _Cache) -> pa.Table | None:
    if parsed.pos is None:
        return None
    n = len(parsed.pos)
    arrays = [
        parsed.columns[f.name] if f.name in parsed.columns else cache.null(f.type, n)
        for f in VPCFLOW
        if f.name != POS
    ]
    arrays.append(parsed.pos)
    return pa.Table.from_arrays(arrays, schema=VPCFLOW)
