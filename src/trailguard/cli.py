"""The ``trailguard`` command.

Exit codes (documented in the README):

* 0 - clean;
* 1 - trailguard itself failed (store or rule error);
* 2 - usage or configuration error;
* 3 - findings at or above ``--fail-on`` exist for the scanned objects;
* 4 - some input could not be read (objects or records rejected, sources unreachable).

3 wins over 4 when both apply.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from trailguard import settings
from trailguard.errors import ConfigError, RuleError, TrailguardError
from trailguard.findings.model import severity_floor, severity_label, to_ms
from trailguard.options import DbOpt
from trailguard.outputs import export
from trailguard.sources.base import open_sources

if TYPE_CHECKING:  # detections, formats, the store and the engine load on first use
    from trailguard.detect.detection import Detection
    from trailguard.enrich.enricher import Enricher
    from trailguard.findings.store import FindingFilter, Store
    from trailguard.formats.base import ReadOptions
    from trailguard.reading import Reading
    from trailguard.scan import ScanSummary

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_FINDINGS: Final = 3
EXIT_UNREADABLE: Final = 4

app = typer.Typer(
    help="Self-hosted threat detection for AWS accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
findings_app = typer.Typer(help="List, show, export and archive findings.", no_args_is_help=True)
rules_app = typer.Typer(help="Check and list detections and rules.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Objects and records that could not be read.")
app.add_typer(findings_app, name="findings")
app.add_typer(rules_app, name="rules")
app.add_typer(quarantine_app, name="quarantine")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

SEVERITY_CHOICES: Final = ("low", "medium", "high", "critical")
SEVERITY_STYLE: Final = {"Low": "cyan", "Medium": "yellow", "High": "red", "Critical": "bold red"}


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


def _open_store(db: str | None) -> Store:
    from trailguard.findings.store import Store

    try:
        return Store.open(settings.resolve_db(db))
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    except TrailguardError as exc:
        raise _fail(str(exc)) from exc


def _load_detections(rules: list[str], builtin: bool = True) -> list[Detection]:
    from trailguard.detect.registry import builtin_detections, check_unique, load_rules_dir

    detections: list[Detection] = builtin_detections() if builtin else []
    problems: list[RuleError] = []
    for folder in rules:
        loaded = load_rules_dir(folder)
        detections.extend(loaded.detections)
        problems.extend(loaded.errors)
    problems.extend(check_unique(detections))
    for p in problems:
        err.print(f"[yellow]rule skipped:[/yellow] {escape(str(p))}", markup=True, highlight=False)
    return detections


def _enricher(store: Store, cfg: dict[str, Any]) -> Enricher:
    """The enricher over the store's intel lists and the configured GeoIP databases."""
    from trailguard.enrich.geo import GeoLookup
    from trailguard.enrich.intel import load_enricher
    from trailguard.findings.intel_store import IntelStore

    geo = GeoLookup(
        settings.get("geoip_city_mmdb", None, cfg), settings.get("geoip_asn_mmdb", None, cfg)
    )
    return load_enricher(IntelStore(store), geo)


def _demo_intel(store: Store, folder: Path) -> None:
    """Load the demo's threat lists (they name the sample's attackers)."""
    from trailguard.enrich.intel import IntelManager
    from trailguard.enrich.lists import ListSpec
    from trailguard.findings.intel_store import IntelStore
    from trailguard.samplegen import write_demo_lists
    from trailguard.sources.fetch import fetch

    manager = IntelManager(IntelStore(store), fetch, clock=time.time, trigger="demo")
    for name, category, path in write_demo_lists(folder):
        manager.add(ListSpec(name, str(path), "threat", category, "TXT"), replace_existing=True)


def _starts_pooled(paths: list[str], options: ReadOptions) -> bool:
    """Whether the scan's first object is one for reader processes (JSON logs, local):
    one file's first bytes decide whether the fork server starts before everything else
    (it costs a flow-log scan, which reads in-process, ~0.3 s of its 2 cores)."""
    from trailguard.formats import peek_kind
    from trailguard.processes import POOLED_KINDS
    from trailguard.sources.local import first_file

    first = next((p for p in paths if "://" not in p), None)
    obj = first_file(first) if first is not None else None
    return obj is not None and peek_kind(obj, options) in POOLED_KINDS


def _flow_format(text: str) -> tuple[str, ...]:
    from trailguard.formats.vpcflow import parse_flow_format  # (pyarrow.csv: only when asked)

    return parse_flow_format(text)


def default_workers() -> int:
    return os.cpu_count() or 1


def _check_severity(value: str | None) -> str | None:
    if value is not None and value.lower() not in SEVERITY_CHOICES:
        raise typer.BadParameter(f"use one of {', '.join(SEVERITY_CHOICES)}")
    return value


def _choice(*allowed: str) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"use one of {', '.join(allowed)}")
        return value

    return check


def _parse_time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return to_ms(dt)


# --- scan -----------------------------------------------------------------------------


def _progress_reporter(enabled: bool) -> tuple[Any, Progress | None]:
    if not enabled:
        return None, None
    progress = Progress(
        TextColumn("[bold]scanning[/bold]"),
        BarColumn(bar_width=None),
        TextColumn("{task.fields[text]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("scan", total=None, text="")
    started = datetime.now(UTC)

    def update(s: ScanSummary) -> None:
        secs = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
        events = sum(s.events.values())
        progress.update(
            task,
            text=(
                f"{s.objects + s.skipped} objects  {events:,} events  "
                f"{s.bytes / 1e6:,.1f} MB  {events / secs:,.0f} events/s"
            ),
        )

    return update, progress


def print_summary(s: ScanSummary, console: Console) -> None:
    t = Table(title="Scan summary", show_header=False, title_justify="left")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("objects read", f"{s.objects:,}")
    if s.skipped:
        t.add_row("objects already scanned (skipped)", f"{s.skipped:,}")
    for kind in ("digest", "insight"):
        if s.kinds.get(kind):
            t.add_row(f"  CloudTrail {kind} files (not logs)", f"{s.kinds[kind]:,}")
    for log_type in ("cloudtrail", "vpcflow", "dns"):
        t.add_row(f"events: {log_type}", f"{s.events.get(log_type, 0):,}")
    t.add_row("bytes read", f"{s.bytes:,}")
    if s.trusted:
        t.add_row("records about trusted addresses/domains", f"{s.trusted:,}")
    t.add_row("records rejected", f"{s.rejected:,}")
    if s.previously_rejected:
        t.add_row("  in objects skipped (see quarantine list)", f"{s.previously_rejected:,}")
    for reason, n in s.reasons.most_common(8):
        t.add_row(f"  {reason}", f"{n:,}")
    for label in ("Critical", "High", "Medium", "Low"):
        n_new = s.by_severity(s.new).get(label, 0)
        n_upd = s.by_severity(s.updated).get(label, 0)
        if n_new or n_upd:
            t.add_row(f"findings {label}", f"{n_new} new, {n_upd} updated")
    if not s.new and not s.updated:
        t.add_row("findings", "none new or updated")
    t.add_row("seconds", f"{s.seconds:.2f}")
    console.print(t)
    for r in s.failed_objects[:20]:
        console.print(
            f"[red]unreadable[/red] {escape(f'{r.object} at {r.position}: {r.reason}')}",
            markup=True,
        )
    for e in s.source_errors:
        console.print(f"[red]source error[/red] {escape(e)}", markup=True)
    for det_id, errors in s.detection_errors.items():
        console.print(
            f"[red]detection {escape(det_id)} failed[/red]: {escape(errors[0])}", markup=True
        )


def _fail_on_hit(store: Store, summary: ScanSummary, fail_on: str | None) -> bool:
    if not fail_on:
        return False
    floor = severity_floor(fail_on)
    return store.has_active_findings(summary.seen_objects, floor)


@app.command()
def scan(
    paths: Annotated[list[str], typer.Argument(help="Files, folders or s3://bucket/prefix.")],
    db: DbOpt = None,
    rules: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--rules", help="Folder of Sigma (.yml) or Python (.py) rules."),
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin/--no-builtin", help="Run the built-in catalogue.")
    ] = True,
    fail_on: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--fail-on",
            help="Exit 3 if active findings at or above this severity (low, medium, high, "
            "critical) exist for the scanned objects.",
            callback=_check_severity,
        ),
    ] = None,
    endpoint_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--endpoint-url", help="S3 endpoint URL."),
    ] = None,
    flow_format: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--flow-format",
            help="Fields of header-less flow logs, in AWS's ${field} syntax.",
        ),
    ] = None,
    batch_rows: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--batch-rows", min=1, help="Rows per batch."),
    ] = None,
    max_decompressed: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--max-decompressed-bytes", min=1, help="Decompression-bomb limit."),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--workers", min=0, help="Reader processes (0: none; default: one per CPU)."),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", help="Summary as 'text' or 'json'.", callback=_choice("text", "json")
        ),
    ] = "text",
) -> None:
    """Scan logs once (CloudTrail, VPC flow, Route 53 Resolver) and store findings."""
    from trailguard import processes

    store: Store | None = None
    reading: Reading | None = None
    try:
        cfg = settings.load_config()
        n_workers = settings.get("workers", workers, cfg)
        from trailguard.formats.base import ReadOptions

        fmt_text = settings.get("flow_format", flow_format, cfg)
        options = ReadOptions(
            batch_rows=settings.get("batch_rows", batch_rows, cfg),
            max_decompressed_bytes=settings.get("max_decompressed_bytes", max_decompressed, cfg),
            flow_format=_flow_format(fmt_text) if fmt_text else None,
        )
        n_workers = default_workers() if n_workers is None else int(n_workers)
        if n_workers > 0 and _starts_pooled(paths, options):
            # readers are forked from a server whose imports overlap ours from here on
            processes.start_server()
        # reading begins first thing: the first objects are read while the store is opened,
        # DuckDB imported and the detections built
        from trailguard.reading import Reading

        sources = open_sources(paths, endpoint_url=settings.get("endpoint_url", endpoint_url, cfg))
        reading = Reading(sources, options, workers=n_workers)
        store = _open_store(settings.resolve_db(db, cfg))
        committed = store.checkpoint_versions()
        reading.skip(committed)
        from trailguard.scan import Scanner

        detections = _load_detections(settings.get("rules", rules or [], cfg), builtin)
        interactive = sys.stderr.isatty() and sys.stdout.isatty() and output_format == "text"
        update, progress = _progress_reporter(interactive)
        retention = int(settings.get("window_retention_hours", None, cfg)) * 3600 * 1000
        scanner = Scanner(
            store,
            detections,
            options,
            retention_ms=retention,
            on_progress=update,
            workers=n_workers,
            engine_memory=str(settings.get("engine_memory", None, cfg)),
            enricher=_enricher(store, cfg),
            committed=committed,
        )
        if progress is not None:
            with progress:
                summary = scanner.scan(reading)
        else:
            summary = scanner.scan(reading)
        failing = _fail_on_hit(store, summary, fail_on)
    except (ConfigError, RuleError) as exc:
        raise _fail(str(exc), EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_ERROR) from exc
    except TrailguardError as exc:
        raise _fail(str(exc)) from exc
    finally:
        if reading is not None:
            reading.close()
        if store is not None:
            store.close()
    if output_format == "json":
        out.print_json(json.dumps(summary.as_dict()))
    else:
        print_summary(summary, out)
    if failing:
        raise typer.Exit(EXIT_FINDINGS)
    if summary.unreadable:
        raise typer.Exit(EXIT_UNREADABLE)


# --- demo -----------------------------------------------------------------------------


def findings_table(items: list[dict[str, Any]], title: str = "Findings") -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("severity")
    t.add_column("type")
    t.add_column("resource")
    t.add_column("count", justify="right")
    t.add_column("last seen")
    t.add_column("id")
    for f in items:
        label = severity_label(f["severity"])
        # text from logs and rules is shown as it is, never read as markup
        t.add_row(
            Text(label, style=SEVERITY_STYLE[label]),
            Text(f["type"]),
            Text(export.resource_id(f)),
            str(f["service"]["count"]),
            f["service"]["eventLastSeen"],
            f["id"][:12],
        )
    return t


@app.command()
def demo(
    out_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", help="Where to write the sample (default: a temporary folder)."),
    ] = None,
    db: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--db", help="Store for the demo's findings (default: a temporary file)."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=30, help="Days of logs to generate.")] = 3,
) -> None:
    """Generate a sample account's logs with embedded attacks, scan them, show the findings."""
    from trailguard.detect.registry import builtin_detections
    from trailguard.findings.store import FindingFilter, Store
    from trailguard.samplegen import generate_sample
    from trailguard.scan import Scanner

    with tempfile.TemporaryDirectory(prefix="trailguard-demo-") as tmp:
        target = out_dir or Path(tmp) / "sample"
        manifest = generate_sample(target, days=days, overwrite=True)
        out.print(
            f"Generated {len(manifest.files)} log files ({days} days) for a sample account "
            f"in {target}"
        )
        store = Store.open(db or Path(tmp) / "demo.db")
        try:
            update, progress = _progress_reporter(sys.stderr.isatty())
            _demo_intel(store, Path(tmp) / "intel")
            scanner = Scanner(
                store, builtin_detections(), on_progress=update, enricher=_enricher(store, {})
            )
            if progress is not None:
                with progress:
                    summary = scanner.scan(open_sources([str(target)]))
            else:
                summary = scanner.scan(open_sources([str(target)]))
            print_summary(summary, out)
            out.print(findings_table(store.list_findings(FindingFilter())))
        finally:
            store.close()
    out.print(
        "Next: [bold]trailguard scan PATH|s3://bucket/prefix[/bold] on your own logs, then "
        "[bold]trailguard findings list[/bold].",
        markup=True,
    )


# --- findings -------------------------------------------------------------------------


def _select(
    db: str | None,
    severity: str | None,
    types: list[str] | None,
    account: str | None,
    region: str | None,
    resource: str | None,
    since: str | None,
    archived: str,
    limit: int | None,
) -> list[dict[str, Any]]:
    """The findings the shared filter options select, most severe first."""
    store = _open_store(db)
    try:
        return store.list_findings(
            _filter(severity, types, account, region, resource, since, archived, limit)
        )
    finally:
        store.close()


def _filter(
    severity: str | None,
    types: list[str] | None,
    account: str | None,
    region: str | None,
    resource: str | None,
    since: str | None,
    archived: str,
    limit: int | None,
) -> FindingFilter:
    from trailguard.findings.store import FindingFilter

    arch = {"no": False, "yes": True, "all": None}.get(archived)
    if archived not in ("no", "yes", "all"):
        raise typer.BadParameter("--archived takes no, yes or all")
    return FindingFilter(
        min_severity=severity,
        types=types or (),
        account_id=account,
        region=region,
        resource=resource,
        since_ms=_parse_time(since),
        archived=arch,
        limit=limit,
    )


SeverityOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--severity", help="Minimum severity.", callback=_check_severity),
]
TypeOpt = Annotated[Optional[list[str]], typer.Option("--type", help="Finding type.")]  # noqa: UP045
AccountOpt = Annotated[Optional[str], typer.Option("--account", help="Account id.")]  # noqa: UP045
RegionOpt = Annotated[Optional[str], typer.Option("--region", help="Region.")]  # noqa: UP045
ResourceOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--resource", help="Part of the resource (principal, instance, ENI)."),
]
SinceOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--since", help="Last seen at or after this ISO 8601 time."),
]
ArchivedOpt = Annotated[
    str, typer.Option("--archived", help="Archived findings: no (default), yes or all.")
]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", min=1)]  # noqa: UP045


@findings_app.command("list")
def findings_list(
    db: DbOpt = None,
    severity: SeverityOpt = None,
    types: TypeOpt = None,
    account: AccountOpt = None,
    region: RegionOpt = None,
    resource: ResourceOpt = None,
    since: SinceOpt = None,
    archived: ArchivedOpt = "no",
    limit: LimitOpt = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table or json.", callback=_choice("table", "json"))
    ] = "table",
) -> None:
    """List findings, most severe first."""
    items = _select(db, severity, types, account, region, resource, since, archived, limit)
    if output_format == "json":
        export.write(items, "json", sys.stdout)
    else:
        out.print(findings_table(items, f"Findings ({len(items)})"))


@findings_app.command("show")
def findings_show(
    finding: Annotated[str, typer.Argument(help="Finding id (or a unique prefix).")],
    db: DbOpt = None,
) -> None:
    """Show one finding as GuardDuty JSON."""
    store = _open_store(db)
    try:
        ids = store.find_ids(finding)
        if len(ids) != 1:
            raise _fail(
                f"no finding {finding!r}" if not ids else f"{finding!r} is ambiguous",
                EXIT_USAGE,
            )
        doc = store.get_finding(ids[0])
    finally:
        store.close()
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")


@findings_app.command("export")
def findings_export(
    output_format: Annotated[
        str,
        typer.Option("--format", help="json, jsonl or csv.", callback=_choice(*export.FORMATS)),
    ] = "json",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
    db: DbOpt = None,
    severity: SeverityOpt = None,
    types: TypeOpt = None,
    account: AccountOpt = None,
    region: RegionOpt = None,
    resource: ResourceOpt = None,
    since: SinceOpt = None,
    archived: ArchivedOpt = "no",
    limit: LimitOpt = None,
) -> None:
    """Export findings (GuardDuty JSON, JSON lines or CSV)."""
    items = _select(db, severity, types, account, region, resource, since, archived, limit)
    if output is None:
        export.write(items, output_format, sys.stdout)
    else:
        with output.open("w", encoding="utf-8", newline="") as fh:
            n = export.write(items, output_format, fh)
        err.print(f"wrote {n} findings to {output}")


def _archive(ids: list[str], db: str | None, archived: bool) -> None:
    store = _open_store(db)
    try:
        full: list[str] = []
        for prefix in ids:
            found = store.find_ids(prefix)
            if len(found) != 1:
                raise _fail(f"no unique finding {prefix!r}", EXIT_USAGE)
            full.extend(found)
        n = store.set_archived(full, archived, to_ms(datetime.now(UTC)))
    finally:
        store.close()
    out.print(f"{'archived' if archived else 'unarchived'} {n} findings")


@findings_app.command("archive")
def findings_archive(ids: list[str], db: DbOpt = None) -> None:
    """Archive findings (a new occurrence brings a finding back)."""
    _archive(ids, db, True)


@findings_app.command("unarchive")
def findings_unarchive(ids: list[str], db: DbOpt = None) -> None:
    """Unarchive findings."""
    _archive(ids, db, False)


# --- rules ----------------------------------------------------------------------------


@rules_app.command("lint")
def rules_lint(
    folders: Annotated[list[str], typer.Argument(help="Rule folders or files.")],
) -> None:
    """Check rule folders; every problem is listed with its file. Exit 1 if any."""
    from trailguard.detect.registry import check_unique, load_rules_dir

    problems: list[RuleError] = []
    count = 0
    for folder in folders:
        loaded = load_rules_dir(folder)
        count += len(loaded.detections)
        problems.extend(loaded.errors)
        problems.extend(check_unique(loaded.detections))
    for p in problems:
        out.print(f"{p.path}: {p.reason}", markup=False)
    out.print(f"{count} rules compiled, {len(problems)} problems")
    if problems:
        raise typer.Exit(EXIT_ERROR)


@rules_app.command("list")
def rules_list(
    rules: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--rules", help="Also list the rules of these folders."),
    ] = None,
) -> None:
    """List the detections that a scan would run."""
    from trailguard.detect.detection import WindowDetection

    t = Table(title="Detections", title_justify="left")
    for col in ("id", "finding type", "severity", "log type", "kind", "source"):
        t.add_column(col)
    for d in _load_detections(rules or []):
        kind = "Window" if isinstance(d, WindowDetection) else "Event"
        t.add_row(
            d.meta.id,
            d.meta.finding_type,
            severity_label(d.meta.severity),
            d.meta.log_type,
            kind,
            d.meta.source,
        )
    out.print(t)


# --- quarantine -----------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(db: DbOpt = None, limit: LimitOpt = None) -> None:
    """List rejected objects and records with their position and reason."""
    store = _open_store(db)
    t = Table(title="Quarantine", title_justify="left")
    for col in ("object", "position", "reason"):
        t.add_column(col, overflow="fold")
    try:
        for q in store.quarantined(limit or 1000):
            t.add_row(Text(q.object), Text(q.position), Text(q.reason))
    finally:
        store.close()
    out.print(t)


# commands that live beside the packages they drive
def _register_packages() -> None:
    from trailguard.enrich import command as enrich_command
    from trailguard.integrity import command as integrity_command
    from trailguard.posture import certs_command
    from trailguard.posture import command as posture_command

    for module in (enrich_command, integrity_command, posture_command, certs_command):
        module.register(app)


_register_packages()


def main() -> None:
    """The ``trailguard`` command: the app, then a quick exit.

    Once a command has returned, its output is flushed and the exit handlers have run
    (temporary folders removed, child processes stopped), the process ends without the
    interpreter's teardown of every module and object: with pyarrow, DuckDB and
    sqlalchemy loaded, that teardown alone takes ~0.1 s, and more after a large scan
    (measured: 0.15 s after the CloudTrail benchmark's scan).
    """
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # as SystemExit("message") would
        code = 1
    threading_shutdown = getattr(threading, "_shutdown", None)
    if threading_shutdown is not None:
        threading_shutdown()  # wait for non-daemon threads, as a normal exit does
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)
