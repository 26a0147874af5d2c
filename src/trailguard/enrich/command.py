"""``trailguard intel``: threat lists, trusted lists, AWS ranges and managed feeds.

Exit status: 0 when every list asked for was read; 2 for usage or configuration errors;
4 when a list could not be fetched or parsed (its last good copy is kept).

Heavy imports stay inside the command functions, so ``trailguard --help`` starts quickly.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from trailguard.options import DbOpt

if TYPE_CHECKING:
    from trailguard.enrich.intel import IntelManager, UpdateResult
    from trailguard.findings.intel_store import IntelStore
    from trailguard.findings.store import Store

EndpointOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--endpoint-url", help="S3 endpoint URL, for lists in S3-compatible stores."),
]


def _table_or_json(value: str) -> str:
    if value not in ("table", "json"):
        raise typer.BadParameter("use one of table, json")
    return value


FormatOpt = Annotated[
    str, typer.Option("--format", help="Output: table or json.", callback=_table_or_json)
]

intel_app = typer.Typer(
    help="Threat lists, trusted lists, AWS address ranges and managed feeds.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``trailguard intel`` to ``app``."""
    app.add_typer(intel_app, name="intel")


def _ms_iso(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _manager(db: str | None, endpoint_url: str | None) -> tuple[Store, IntelStore, IntelManager]:
    from functools import partial

    from trailguard import cli, settings
    from trailguard.enrich.intel import IntelManager
    from trailguard.findings.intel_store import IntelStore
    from trailguard.sources.fetch import fetch

    store = cli._open_store(db)
    intel = IntelStore(store)
    endpoint = settings.get("endpoint_url", endpoint_url)
    return store, intel, IntelManager(intel, partial(fetch, endpoint_url=endpoint), clock=time.time)


def _print_results(results: list[UpdateResult]) -> bool:
    """Print update outcomes; True when all went well."""
    from rich.markup import escape

    from trailguard.cli import err, out

    ok = True
    for r in results:
        if r.outcome == "failed":
            ok = False
            err.print(
                f"[red]{escape(r.name)}: failed[/red]: {escape(r.message)}",
                markup=True,
                highlight=False,
            )
            continue
        if r.outcome == "skipped":
            out.print(f"{r.name}: not due ({r.entries} entries)", markup=False)
            continue
        bad = f", {r.bad_lines} bad lines" if r.bad_lines else ""
        out.print(f"{r.name}: {r.outcome} ({r.entries} entries{bad})", markup=False)
        for example in r.bad_examples:
            out.print(f"  {example}", markup=False)
    return ok


@intel_app.command("add")
def intel_add(
    name: Annotated[str, typer.Argument(help="A name for the list (letters, digits, . _ -).")],
    location: Annotated[str, typer.Argument(help="A file, an http(s):// URL or s3://bucket/key.")],
    kind: Annotated[
        str, typer.Option("--kind", help="threat, trusted, or aws (AWS's ip-ranges.json).")
    ] = "threat",
    category: Annotated[
        str,
        typer.Option(
            "--category",
            help="For threat lists: custom, tor (Tor exit nodes), mining (mining pools) or c2.",
        ),
    ] = "custom",
    list_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto, TXT, STIX, STIX2, OTX_CSV, FIRE_EYE, PROOF_POINT, ALIEN_VAULT, CSV, "
            "FIREHOL, HOSTS, ADBLOCK or AWS_IP_RANGES.",
        ),
    ] = "auto",
    column: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--column", help="For --format CSV: the column that holds the entries."),
    ] = None,
    refresh: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--refresh", help="Re-fetch on `intel update` every 30m, 6h, 1d, ..."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a list of the same name.")
    ] = False,
    db: DbOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Add a list (or replace one, with --replace)."""
    from trailguard.cli import EXIT_UNREADABLE, EXIT_USAGE, _fail
    from trailguard.enrich.feeds import parse_duration
    from trailguard.enrich.lists import ListSpec
    from trailguard.errors import ConfigError, IntelError, SourceError

    try:
        seconds = parse_duration(refresh) if refresh else None
    except ValueError as exc:
        raise _fail(f"--refresh: {exc}", EXIT_USAGE) from None
    spec = ListSpec(name, location, kind, category, list_format, column, False, seconds)
    store, _, manager = _manager(db, endpoint_url)
    try:
        result = manager.add(spec, replace_existing=replace)
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except (SourceError, IntelError) as exc:
        raise _fail(str(exc), EXIT_UNREADABLE) from None
    finally:
        store.close()
    _print_results([result])


@intel_app.command("list")
def intel_list(db: DbOpt = None, output: FormatOpt = "table") -> None:
    """The lists in the store, with their size and when they were last refreshed."""
    from rich.table import Table

    from trailguard.cli import out

    store, intel, _ = _manager(db, None)
    try:
        lists = intel.lists()
    finally:
        store.close()
    if output == "json":
        out.print_json(json.dumps([_meta_json(m) for m in lists]))
        return
    table = Table(title="Intel lists")
    for head in ("Name", "Kind", "Category", "Format", "Entries", "Bad", "Refreshed", "Error"):
        table.add_column(head)
    for m in lists:
        table.add_row(
            m.name,
            m.kind,
            m.category or "-",
            m.format,
            str(m.entries),
            str(m.bad_lines),
            _ms_iso(m.refreshed_at),
            m.last_error or "",
        )
    out.print(table)


def _meta_json(m: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from trailguard.sources.fetch import redact

    doc = asdict(m)
    doc["location"] = redact(doc["location"])
    for key in ("added_at", "refreshed_at", "checked_at"):
        doc[key] = _ms_iso(doc[key])
    return doc


@intel_app.command("show")
def intel_show(
    name: str,
    db: DbOpt = None,
    output: FormatOpt = "table",
    bad: Annotated[int, typer.Option("--bad", help="How many bad lines to print.")] = 20,
) -> None:
    """One list: where it comes from, its state, its bad lines and its recent changes."""
    from trailguard.cli import EXIT_USAGE, _fail, out
    from trailguard.enrich.intel import parse

    store, intel, _ = _manager(db, None)
    try:
        meta = intel.get(name)
        if meta is None:
            raise _fail(f"no intel list named {name!r}", EXIT_USAGE)
        data = intel.data(name)
        changes = intel.changes(name, limit=20)
    finally:
        store.close()
    entries, _ = parse(meta.spec(), data)
    doc = _meta_json(meta)
    doc["bad_examples"] = [
        {"line": b.line, "reason": b.reason, "text": b.text} for b in entries.bad[:bad]
    ]
    doc["threat_names"] = entries.threats[:50]
    doc["changes"] = [{"change": c.change, "at": _ms_iso(c.at), **c.detail} for c in changes]
    if output == "json":
        out.print_json(json.dumps(doc))
        return
    for key, value in doc.items():
        if key in ("bad_examples", "changes", "threat_names"):
            continue
        out.print(f"{key}: {value}", markup=False)
    if doc["threat_names"]:
        out.print("threat names: " + ", ".join(doc["threat_names"]), markup=False)
    for b in doc["bad_examples"]:
        out.print(f"bad line {b['line']}: {b['reason']}: {b['text']}", markup=False)
    for c in doc["changes"]:
        before, after = c.get("previousEntries"), c.get("entries")
        counts = (
            f"{before} -> {after} entries"
            if before is not None and after is not None
            else f"{after if after is not None else before} entries"
        )
        out.print(f"{c['at']} {c['change']} ({counts}, by {c['trigger']})", markup=False)


@intel_app.command("remove")
def intel_remove(name: str, db: DbOpt = None) -> None:
    """Remove a list (recorded, and raises an IntelListChanged finding)."""
    from trailguard.cli import EXIT_USAGE, _fail, out

    store, _, manager = _manager(db, None)
    try:
        if not manager.remove(name):
            raise _fail(f"no intel list named {name!r}", EXIT_USAGE)
    finally:
        store.close()
    out.print(f"{name}: removed", markup=False)


@intel_app.command("update")
def intel_update(
    names: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="Lists to re-fetch now (default: the feeds and lists that are due)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-fetch every list, due or not.")
    ] = False,
    db: DbOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Fetch configured feeds and re-fetch lists (conditionally: ETag / If-Modified-Since)."""
    from trailguard.cli import EXIT_UNREADABLE, EXIT_USAGE, _fail
    from trailguard.enrich.feeds import load_feeds
    from trailguard.errors import ConfigError

    try:
        feeds = load_feeds()
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    store, intel, manager = _manager(db, endpoint_url)
    try:
        if names:
            unknown = set(names) - {m.name for m in intel.lists()} - {f.name for f in feeds}
            if unknown:
                raise _fail(
                    "no intel list or configured feed named "
                    + ", ".join(repr(n) for n in sorted(unknown)),
                    EXIT_USAGE,
                )
        results = manager.sync_feeds(f for f in feeds if not names or f.name in names)
        synced = {r.name for r in results}  # just fetched: not again
        if names:
            rest = [n for n in dict.fromkeys(names) if n not in synced]
            if rest:
                results += manager.update(rest, force=force)
        else:
            results += [r for r in manager.update(None, force=force) if r.name not in synced]
        configured = {f.name for f in feeds}
        orphans = [m.name for m in intel.lists() if m.feed and m.name not in configured]
    finally:
        store.close()
    from trailguard.cli import err

    for name in orphans:
        # removing it here would empty the store whenever the config is not found
        err.print(
            f"note: feed {name} is no longer in the config file; it is still used and "
            f"refreshed. `trailguard intel remove {name}` drops it.",
            markup=False,
        )
    if not _print_results(results):
        raise typer.Exit(EXIT_UNREADABLE)
