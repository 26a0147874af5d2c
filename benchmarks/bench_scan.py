"""Throughput and memory of ``trailguard scan``, beside floors timed on the same files.

    python benchmarks/bench_scan.py --data DIR [--log-type cloudtrail|vpcflow|dns ...]
    python benchmarks/bench_scan.py --data DIR --rss-scaling

For each log type found under ``DIR`` (by its S3 key layout: ``CloudTrail/``,
``vpcflowlogs/``, ``vpcdnsquerylogs/``), it prints events, seconds, events/s, MB/s
(compressed and uncompressed) and, for trailguard, peak RSS, for:

- gunzip alone: ISA-L and zlib in this process, and ``zcat`` (a child process);
- gunzip + the fastest typed decoding of the fields the normalised schema keeps
  (msgspec Structs built from :mod:`trailguard.formats.schema`, with ``msgspec.Raw`` for
  CloudTrail's free-form members; for flow logs, ``pyarrow.csv`` with the schema's types),
  with ISA-L's gunzip (the strict floor, which the verdict uses) and, for the JSON logs,
  with zlib's (the floor as the issue measured it: its gunzip figures are zlib's);
- ``trailguard scan PATH... --db TMP.db`` run as a child process, its peak RSS taken
  from ``wait4`` (and from sampling its process tree through /proc, if larger);

then trailguard's ratio to the typed floor and the targets.  ``--rss-scaling`` scans
1 GB of flow logs (uncompressed; ``--rss-files`` to choose) and ten times as much, and
compares the two peak RSS figures: the same files ten times over (hard links with
distinct names, so no data is copied), and ten times as many distinct files when the
folder has them (``generate.py --mb 2100`` writes about 9 GB).

The page cache is warmed first; every figure is the best of ``--repeat`` runs, and the
typed floors and the scan are timed in alternating rounds (so that a slow spell of a
shared machine does not favour one side of the ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
from isal import igzip

from trailguard.formats import schema

MB = 1024 * 1024
GB = 1024 * MB
LOG_TYPES = ("cloudtrail", "vpcflow", "dns")
LAYOUT = {"CloudTrail": "cloudtrail", "vpcflowlogs": "vpcflow", "vpcdnsquerylogs": "dns"}
TARGET_TYPED_RATIO = 0.5
TARGET_FLOW_RATE = 1_000_000
TARGET_RSS_RATIO = 1.10


# ------------------------------------------------------------------ finding the files


@dataclass
class Dataset:
    log_type: str
    files: list[Path]
    roots: list[Path]  # the layout folders (…/AWSLogs/<account>/<kind>) to pass to scan
    compressed: int = 0
    uncompressed: int = 0
    events: int = 0


def find(data: Path) -> dict[str, Dataset]:
    found: dict[str, Dataset] = {}
    for path in sorted(data.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(data).parts):
            continue
        parts = path.relative_to(data).parts
        for i, part in enumerate(parts[:-1]):
            if part in LAYOUT:
                kind = LAYOUT[part]
                ds = found.setdefault(kind, Dataset(kind, [], []))
                ds.files.append(path)
                root = data.joinpath(*parts[: i + 1])
                if root not in ds.roots:
                    ds.roots.append(root)
                ds.compressed += path.stat().st_size
                break
    return found


# ------------------------------------------------------------------ typed decoding floors


def _struct_type(name: str, arrow: pa.DataType) -> Any:
    """A msgspec type for an Arrow type of the normalised schema."""
    if pa.types.is_struct(arrow):
        fields = [(f.name, _struct_type(f"{name}_{f.name}", f.type) | None, None) for f in arrow]
        return msgspec.defstruct(name, fields, gc=False)
    if pa.types.is_list(arrow):
        return list[_struct_type(name, arrow.value_type)]  # type: ignore[misc]
    if pa.types.is_boolean(arrow):
        return bool
    if pa.types.is_integer(arrow):
        return int
    if pa.types.is_timestamp(arrow):
        return datetime
    return str


def record_struct(name: str, arrow_schema: pa.Schema, raw: Sequence[str] = ()) -> Any:
    fields: list[tuple[str, Any, Any]] = []
    for f in arrow_schema:
        if f.name == schema.POS:
            continue
        if f.name in raw:
            fields.append((f.name, msgspec.Raw, msgspec.Raw(b"null")))
        else:
            fields.append((f.name, _struct_type(f"{name}_{f.name}", f.type) | None, None))
    return msgspec.defstruct(name, fields, gc=False)


CloudTrailRecord = record_struct(
    "CloudTrailRecord", schema.CLOUDTRAIL, schema.CLOUDTRAIL_JSON_FIELDS
)
CloudTrailFile = msgspec.defstruct("CloudTrailFile", [("Records", list[CloudTrailRecord])])  # type: ignore[valid-type]
DnsRecord = record_struct("DnsRecord", schema.DNS)


def typed_cloudtrail(data: bytes, decoder: msgspec.json.Decoder[Any]) -> int:
    return len(decoder.decode(data).Records)


def typed_dns(data: bytes, decoder: msgspec.json.Decoder[Any]) -> int:
    return len(decoder.decode_lines(data))


def typed_flow(data: bytes) -> int:
    import pyarrow.csv as csv

    header = data[: data.index(b"\n")].decode().split()
    types = {}
    for name in header:
        _, typ = schema.FLOW_FIELDS[name]
        types[name] = pa.int64() if pa.types.is_timestamp(typ) else typ
    table = csv.read_csv(
        io.BytesIO(data),
        parse_options=csv.ParseOptions(delimiter=" "),
        convert_options=csv.ConvertOptions(
            column_types=types, null_values=["-"], strings_can_be_null=True
        ),
    )
    return int(table.num_rows)


# ------------------------------------------------------------------ timing


@dataclass
class Row:
    label: str
    seconds: float
    events: int | None = None
    rss: int | None = None
    note: str = ""


def best_of(repeat: int, fn: Callable[[], int | None]) -> tuple[float, int | None]:
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - began)
    return best, result


def gunzip_isal(files: list[Path]) -> int:
    return sum(len(igzip.decompress(p.read_bytes())) for p in files)


def gunzip_zlib(files: list[Path]) -> int:
    return sum(len(zlib.decompress(p.read_bytes(), 31)) for p in files)


def zcat(files: list[Path]) -> None:
    for i in range(0, len(files), 200):
        subprocess.run(
            ["zcat", "--", *map(str, files[i : i + 200])], stdout=subprocess.DEVNULL, check=True
        )


def zlib_gunzip(data: bytes) -> bytes:
    return zlib.decompress(data, 31)


def typed(ds: Dataset, gunzip: Callable[[bytes], bytes] = igzip.decompress) -> Callable[[], int]:
    if ds.log_type == "cloudtrail":
        dec: msgspec.json.Decoder[Any] = msgspec.json.Decoder(CloudTrailFile)
        return lambda: sum(typed_cloudtrail(gunzip(p.read_bytes()), dec) for p in ds.files)
    if ds.log_type == "dns":
        dec = msgspec.json.Decoder(DnsRecord, strict=False)  # srcport is a string in the logs
        return lambda: sum(typed_dns(gunzip(p.read_bytes()), dec) for p in ds.files)
    return lambda: sum(typed_flow(gunzip(p.read_bytes())) for p in ds.files)


TYPED_LABEL = {
    "cloudtrail": "gunzip + msgspec typed decode",
    "dns": "gunzip + msgspec typed decode_lines",
    "vpcflow": "gunzip + pyarrow.csv typed parse",
}


# ------------------------------------------------------------------ trailguard as a child


@dataclass
class Run:
    seconds: float
    returncode: int
    peak_rss: int
    output: str = field(repr=False, default="")


_PAGE: int = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc's per-thread ``children`` lists."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def _tree_rss(pid: int) -> int:
    total = 0
    for p in _proc_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{p}/statm") as f:
            total += int(f.read().split()[1]) * _PAGE
    return total


def _poll_tree(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """The peak RSS of ``pid``'s process tree (its reader processes are not its own
    children, so ``wait4`` misses them), sampled every 50 ms.

    From /proc where there is one (about 0.8 ms a sample on a 2-core VM): psutil's
    recursive ``children()`` walks every process on the machine, about 1.5 ms a sample,
    and sampled every 20 ms that took some 4% of the machine from the scan being
    measured; now it is under 1%."""
    if os.path.isdir(f"/proc/{pid}/task"):
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(pid))
            stop.wait(0.05)
        return
    try:
        import psutil
    except ImportError:
        return
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            peak[0] = max(peak[0], total)
            stop.wait(0.02)
    except psutil.Error:
        return


def run_child(cmd: list[str]) -> Run:
    """Run ``cmd``; wall time, exit code and peak RSS (wait4's, or the polled tree's)."""
    with tempfile.TemporaryFile() as out:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        stop, peak = threading.Event(), [0]
        poller = threading.Thread(target=_poll_tree, args=(proc.pid, stop, peak), daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        stop.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Run(seconds, proc.returncode, max(usage.ru_maxrss * 1024, peak[0]), text)


def trailguard_command(given: str | None) -> list[str]:
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).parent / "trailguard"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("trailguard")
    return [found] if found else [sys.executable, "-m", "trailguard"]


def compile_bytecode() -> str | None:
    """Compile the imported trailguard package's modules, as ``pip install`` does.

    An editable install run with ``PYTHONDONTWRITEBYTECODE`` set (as some CI images
    do) would otherwise compile every module on every start: about 0.1 s of each
    scan, and as much again in the reader processes."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("trailguard")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = next(iter(spec.submodule_search_locations))
    compileall.compile_dir(folder, quiet=1)
    return folder


def scan(tg: list[str], roots: Sequence[Path], work: Path, repeat: int) -> Run:
    best: Run | None = None
    for i in range(repeat):
        db = work / f".bench-{os.getpid()}-{i}.db"
        try:
            run = run_child([*tg, "scan", *map(str, roots), "--db", str(db)])
        finally:
            for p in work.glob(db.name + "*"):
                p.unlink()
        if run.returncode not in (0, 3, 4):
            return run
        if best is None or run.seconds < best.seconds:
            best = run
    assert best is not None
    return best


def summary_counts(output: str) -> tuple[dict[str, int], float | None]:
    """Events per log type and seconds from the scan's summary, if it prints them."""
    events = {
        kind: int(n.replace(",", ""))
        for kind, n in re.findall(r"events: (cloudtrail|vpcflow|dns)\W+([\d,]+)", output)
    }
    seconds = re.search(r"\bseconds\W+([\d.]+)", output)
    return events, float(seconds.group(1)) if seconds else None


# ------------------------------------------------------------------ printing


def fmt_rate(n: float) -> str:
    return f"{n:,.0f}" if n >= 100 else f"{n:.2f}"


def print_table(ds: Dataset, rows: list[Row]) -> None:
    print(
        f"\n== {ds.log_type}: {len(ds.files)} files, {ds.compressed / MB:,.1f} MB compressed, "
        f"{ds.uncompressed / MB:,.1f} MB uncompressed, {ds.events:,} events"
    )
    print(
        f"{'':38} {'seconds':>9} {'events/s':>12} {'MB/s gz':>9} {'MB/s raw':>9} {'peak RSS':>10}"
    )
    for r in rows:
        rate = fmt_rate(ds.events / r.seconds) if ds.events and r.seconds else "-"
        rss = f"{r.rss / MB:,.0f} MB" if r.rss else ""
        print(
            f"{r.label:38} {r.seconds:9.3f} {rate:>12} {ds.compressed / MB / r.seconds:9.1f} "
            f"{ds.uncompressed / MB / r.seconds:9.1f} {rss:>10}  {r.note}"
        )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# ------------------------------------------------------------------ main


def bench_type(ds: Dataset, args: argparse.Namespace, tg: list[str] | None, work: Path) -> None:
    rows: list[Row] = []
    sec, raw = best_of(args.repeat, lambda: gunzip_isal(ds.files))
    ds.uncompressed = raw or 0
    rows.append(Row("gunzip (ISA-L, in process)", sec))
    sec, _ = best_of(args.repeat, lambda: gunzip_zlib(ds.files))
    rows.append(Row("gunzip (zlib, in process)", sec))
    if not args.no_zcat and shutil.which("zcat"):
        sec, _ = best_of(args.repeat, lambda: zcat(ds.files))
        rows.append(Row("gunzip (zcat > /dev/null)", sec))
    # the floor for JSON logs: its figures (gunzip alone ~3.4M flow records/s, ~1.25M
    # Resolver queries/s) are zlib's; the ISA-L floor is the stricter one, and the verdict's
    floor, zlib_floor = typed(ds), (typed(ds, zlib_gunzip) if ds.log_type != "vpcflow" else None)
    typed_sec = zlib_sec = float("inf")
    events: int | None = 0
    run: Run | None = None
    # the floors and the scan in alternating rounds, so that all of them see the shared
    # machine in the same states (timed one after the other, a slow spell favours one side)
    for _ in range(args.repeat):
        sec, events = best_of(1, floor)
        typed_sec = min(typed_sec, sec)
        if zlib_floor is not None:
            zlib_sec = min(zlib_sec, best_of(1, zlib_floor)[0])
        if tg is not None and (run is None or run.returncode in (0, 3, 4)):
            this = scan(tg, ds.roots, work, 1)
            if run is None or this.returncode not in (0, 3, 4) or this.seconds < run.seconds:
                run = this
    ds.events = events or 0
    rows.append(Row(TYPED_LABEL[ds.log_type] + " (ISA-L)", typed_sec))
    if zlib_floor is not None:
        rows.append(Row(TYPED_LABEL[ds.log_type] + " (zlib)", zlib_sec))
    if run is not None and run.returncode in (0, 3, 4):
        note = f"exit {run.returncode}" + (" (unreadable inputs!)" if run.returncode == 4 else "")
        rows.append(Row("trailguard scan", run.seconds, rss=run.peak_rss, note=note))
        if args.startup:
            net = max(run.seconds - args.startup, 1e-9)
            rows.append(Row("trailguard scan, less startup", net, note="(estimate)"))
    print_table(ds, rows)
    if run is None:
        return
    if run.returncode not in (0, 3, 4):
        print(f"trailguard scan failed (exit {run.returncode}); last output:")
        print("\n".join("    " + line for line in run.output.strip().splitlines()[-15:]))
        return
    if args.verbose and run.output.strip():
        print("\n".join("    " + line for line in run.output.strip().splitlines()))
    counted, own_seconds = summary_counts(run.output)
    if ds.log_type in counted and counted[ds.log_type] != ds.events:
        print(
            f"warning: trailguard counted {counted[ds.log_type]:,} events, the floor {ds.events:,}"
        )
    if own_seconds:
        print(f"trailguard's own summary: {own_seconds:.2f} s (without interpreter startup)")
    tg_rate = ds.events / run.seconds
    floor_rate = ds.events / typed_sec
    ratio = tg_rate / floor_rate
    if zlib_floor is not None:
        print(f"trailguard / typed floor with zlib's gunzip: {zlib_sec / run.seconds:.2f}")
    print(f"trailguard / typed floor (ISA-L): {ratio:.2f}", end="")
    if ds.log_type == "vpcflow":
        print(
            f"   trailguard: {tg_rate:,.0f} records/s   target >= {TARGET_FLOW_RATE:,} "
            f"records/s: {verdict(tg_rate >= TARGET_FLOW_RATE)}"
        )
    else:
        print(f"   target >= {TARGET_TYPED_RATIO:.2f}: {verdict(ratio >= TARGET_TYPED_RATIO)}")


def link_sets(sets: list[list[Path]], data: Path, into: Path) -> int:
    """Hard-link each set of files under ``into/copyNN/``; return the links made."""
    made = 0
    for c, files in enumerate(sets):
        for f in files:
            target = into / f"copy{c:02d}" / f.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, target)
            except OSError:
                # another file system: a symbolic link, which a source may resolve to the
                # same name (and so skip as already seen)
                target.symlink_to(f.resolve())
                print(f"warning: {target} is a symbolic link, not a hard link", file=sys.stderr)
            made += 1
    return made


def flow_records(files: list[Path]) -> int:
    """Records in flow log files (lines less the header line)."""
    return sum(_records(p) for p in files)


@functools.cache  # the 10x case names each file ten times
def _records(path: Path) -> int:
    return igzip.decompress(path.read_bytes()).count(b"\n") - 1


@functools.cache
def gzip_size(path: Path) -> int:
    """A gzip file's uncompressed size, from its trailer (modulo 4 GiB, as gzip keeps it)."""
    with path.open("rb") as f:
        f.seek(-4, os.SEEK_END)
        return int.from_bytes(f.read(4), "little")


def rss_scaling(
    ds: Dataset, data: Path, tg: list[str], work: Path, repeat: int, files: int | None
) -> None:
    """Peak RSS of scanning ``files`` flow files (by default, the first to make 1 GB
    uncompressed, the issue's figure) and ten times as much: the same files ten times
    over, and, when there are enough, ten times as many distinct files."""
    if files is None:
        total, files = 0, 0
        while files < len(ds.files) and total < GB:
            total += gzip_size(ds.files[files])
            files += 1
    k = max(1, min(files, len(ds.files)))
    cases = [("the same files, 1x and 10x (hard links)", [ds.files[:k]], [ds.files[:k]] * 10)]
    if len(ds.files) < 10 * k:
        k = len(ds.files) // 10
        print(
            f"note: {len(ds.files)} flow files, fewer than ten times {files}: the distinct-files "
            f"case takes {k} and {10 * k} (generate more with benchmarks/generate.py --mb)"
        )
    if k:
        cases.append(
            (f"distinct files: {k} and {10 * k} of them", [ds.files[:k]], [ds.files[: 10 * k]])
        )
    for title, *sets in cases:
        print(f"\n== RSS scaling over {ds.log_type}: {title}")
        runs: list[Run] = []
        for mult, file_sets in zip((1, 10), sets, strict=True):
            events = sum(flow_records(fs) for fs in file_sets)
            folder = Path(tempfile.mkdtemp(prefix=f".bench-x{mult}-", dir=work))
            try:
                n = link_sets(file_sets, data, folder)
                run = scan(tg, [folder], work, repeat)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if run.returncode not in (0, 3, 4):
                print(f"trailguard scan failed (exit {run.returncode}); last output:")
                print("\n".join("    " + line for line in run.output.strip().splitlines()[-15:]))
                return
            runs.append(run)
            counted, _ = summary_counts(run.output)
            if counted.get(ds.log_type, events) != events:
                print(
                    f"warning: trailguard counted {counted[ds.log_type]:,} events, not {events:,}"
                )
            raw = sum(gzip_size(f) for fs in file_sets for f in fs)
            print(
                f"{mult:>3}x: {n:,} files ({raw / GB:.2f} GB uncompressed), {events:,} events, "
                f"{run.seconds:.2f} s "
                f"({events / run.seconds:,.0f} events/s), peak RSS {run.peak_rss / MB:,.0f} MB"
            )
        ratio = runs[1].peak_rss / runs[0].peak_rss
        print(
            f"peak RSS 10x / 1x: {ratio:.3f}   target <= {TARGET_RSS_RATIO:.2f} (within 10%): "
            f"{verdict(ratio <= TARGET_RSS_RATIO)}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of logs in S3 key layout")
    ap.add_argument("--log-type", action="append", choices=LOG_TYPES, help="(repeatable)")
    ap.add_argument("--rss-scaling", action="store_true", help="scan the flow logs 1x and 10x")
    ap.add_argument(
        "--rss-files",
        type=int,
        help="flow files scanned 1x (default: the first 1 GB, uncompressed)",
    )
    ap.add_argument("--trailguard", help="command to run instead of `trailguard` (shell words)")
    ap.add_argument("--no-trailguard", action="store_true", help="time the floors only")
    ap.add_argument("--no-zcat", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs (default 1)")
    ap.add_argument("--work", type=Path, help="folder for databases and links (default: --data)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show trailguard's output")
    args = ap.parse_args(argv)

    data = args.data.resolve()
    datasets = find(data)
    wanted = args.log_type or (["vpcflow"] if args.rss_scaling else list(LOG_TYPES))
    missing = [t for t in wanted if t not in datasets]
    if args.log_type and missing:
        print(f"no {', '.join(missing)} files under {data}", file=sys.stderr)
        return 2
    wanted = [t for t in wanted if t in datasets]
    if not wanted:
        print(f"no CloudTrail, VPC flow or Resolver query logs under {data}", file=sys.stderr)
        return 2
    work = (args.work or data).resolve()
    tg = None if args.no_trailguard else trailguard_command(args.trailguard)
    if tg is not None and not args.trailguard:
        compiled = compile_bytecode()
        if compiled:
            print(f"bytecode: trailguard's modules compiled (as pip install does) in {compiled}")

    for ds in datasets.values():  # warm the page cache, so every figure starts alike
        for p in ds.files:
            p.read_bytes()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, data: {data}")
    args.startup = None
    if tg is not None:
        probe = run_child([*tg, "--help"])
        if probe.returncode == 0:
            args.startup = probe.seconds
            print(f"trailguard: {shlex.join(tg)} (startup, `--help`: {probe.seconds:.2f} s)")
        else:
            print(f"trailguard: {shlex.join(tg)} does not run (exit {probe.returncode}):")
            print("\n".join("    " + line for line in probe.output.strip().splitlines()[-6:]))
            print("timing the floors only")
            tg = None

    if args.rss_scaling:
        ds = datasets[wanted[0]]
        if ds.log_type != "vpcflow":
            print("--rss-scaling measures flow logs; add --log-type vpcflow", file=sys.stderr)
            return 2
        if tg is None:
            print("--rss-scaling needs a working trailguard", file=sys.stderr)
            return 1
        rss_scaling(ds, data, tg, work, args.repeat, args.rss_files)
        return 0
    for kind in wanted:
        bench_type(datasets[kind], args, tg, work)
    print(
        "\ntargets: CloudTrail >= 50% of its typed-parse floor; flow >= 1,000,000 records/s; "
        "Resolver >= 50% of its typed-parse floor; peak RSS 10x within 10% of 1x (--rss-scaling)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
