"""The ``trailguard certs`` command: inspect certificate bundles, files, URLs and servers.

Exit codes (documented in docs/certs.md):

* 0 - no certificate has a flag named by ``--fail-on``, and every SOURCE was read;
* 1 - trailguard itself failed (the store could not record findings);
* 2 - usage or configuration error (bad option, unreadable ``--ca-file``);
* 3 - some certificate has a flag named by ``--fail-on``;
* 4 - some input could not be read (a missing file, a malformed PEM block, DER garbage,
  an empty file, an unreachable URL or server); the rest was still inspected.

3 wins over 4 when both apply, as in ``trailguard scan``.

Heavy imports (cryptography, the store) stay inside the command, so ``trailguard --help``
starts quickly.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, Final, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from datetime import datetime

    from trailguard.posture.certs import Bundle, CertReport, Flag

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_FLAGGED: Final = 3
EXIT_UNREADABLE: Final = 4

#: ``--fail-on`` names, as the flags are written on the command line
FAIL_ON_NAMES: Final = (
    "expired",
    "not-yet-valid",
    "expiring",
    "weak-key",
    "sha1",
    "md5",
    "issuer-not-in-bundle",
)
DEFAULT_FAIL_ON: Final = "expired,not-yet-valid,expiring,weak-key,sha1,md5"
FORMATS: Final = ("table", "json", "csv")
CSV_COLUMNS: Final = (
    "bundle",
    "index",
    "source",
    "position",
    "subject_cn",
    "issuer_cn",
    "subject",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "days_left",
    "key_type",
    "key_size",
    "key_detail",
    "signature_algorithm",
    "sha256",
    "self_signed",
    "issued_by",
    "issuers",
    "flags",
    "notes",
)
FLAG_STYLE: Final = {
    "EXPIRED": "bold red",
    "NOT_YET_VALID": "red",
    "EXPIRING": "yellow",
    "WEAK_KEY": "red",
    "SHA1": "yellow",
    "MD5": "red",
    "ISSUER_NOT_IN_BUNDLE": "cyan",
}


def parse_fail_on(values: list[str] | None) -> frozenset[str]:
    """Flag names (``EXPIRED``…) from ``--fail-on`` values: comma-separated, repeatable,
    plus ``any`` (every flag) and ``none`` (never exit 3)."""
    names: set[str] = set()
    for value in values or [DEFAULT_FAIL_ON]:
        for part in value.split(","):
            name = part.strip().lower().replace("_", "-")
            if not name:
                continue
            if name == "any":
                names.update(FAIL_ON_NAMES)
            elif name == "none":
                continue
            elif name in FAIL_ON_NAMES:
                names.add(name)
            else:
                raise typer.BadParameter(
                    f"{part.strip()!r}: use any, none or {', '.join(FAIL_ON_NAMES)}"
                )
    return frozenset(n.upper().replace("-", "_") for n in names)


def _check_fail_on(values: list[str] | None) -> list[str] | None:
    parse_fail_on(values)
    return values


def _check_format(value: str) -> str:
    if value not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}")
    return value


def register(app: typer.Typer) -> None:
    """Add ``certs`` to ``app``."""
    app.command("certs")(certs)


def certs(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="PEM/DER files, folders (.pem, .crt, .cer, recursively), https:// URLs of "
            "bundles, or host:port to read the chain a TLS server sends.",
            metavar="SOURCE...",
            show_default=False,
        ),
    ],
    warn_days: Annotated[
        int,
        typer.Option("--warn-days", min=0, max=36500, help="Flag EXPIRING within this many days."),
    ] = 30,
    output_format: Annotated[
        str, typer.Option("--format", help="table, json or csv.", callback=_check_format)
    ] = "table",
    fail_on: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(
            "--fail-on",
            help="Exit 3 if a certificate has one of these flags (comma-separated or "
            f"repeated; any, none, {', '.join(FAIL_ON_NAMES)}). Default: {DEFAULT_FAIL_ON}.",
            show_default=False,
            callback=_check_fail_on,
        ),
    ] = None,
    ca_file: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--ca-file", help="Verify https:// downloads with these CA certificates."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Do not verify the TLS certificate of https:// URLs."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help="Seconds to wait for a URL or server."),
    ] = 10.0,
    record: Annotated[
        bool, typer.Option("--record", help="Store flagged certificates as findings.")
    ] = False,
    db: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--db",
            help="Store for --record (default: TRAILGUARD_DB, config file, user data dir).",
        ),
    ] = None,
) -> None:
    """Inspect X.509 certificate bundles: expiry, keys, signatures and who issued whom."""
    from datetime import UTC, datetime

    from trailguard.errors import ConfigError
    from trailguard.posture.certs import inspect_bundle
    from trailguard.posture.certs_fetch import FetchOptions, load_source, url_context

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    failing_flags = parse_fail_on(fail_on)
    if db is not None and not record:
        raise _fail(err, "--db is only used with --record", EXIT_USAGE)
    try:
        options = FetchOptions(url_context(ca_file, insecure), timeout=timeout)
    except ConfigError as exc:
        raise _fail(err, str(exc), EXIT_USAGE) from exc

    now = datetime.now(UTC)
    bundles = [load_source(spec, options) for spec in sources]
    reports = [
        sorted(inspect_bundle(b, now, warn_days), key=lambda r: (r.not_after, r.index))
        for b in bundles
    ]
    if output_format == "json":
        sys.stdout.write(json.dumps(_json(bundles, reports, now, warn_days), indent=2) + "\n")
    elif output_format == "csv":
        _csv(reports)
    else:
        _tables(out, bundles, reports)
    for bundle in bundles:
        for problem in bundle.problems:
            err.print(f"[red]unreadable[/red] {escape(str(problem))}", soft_wrap=True)
    flat = [r for rs in reports for r in rs]
    if record:
        _record(err, flat, now, db)
    if output_format == "table":
        _summary(out, bundles, flat)
    if any(str(f) in failing_flags for r in flat for f in r.flags):
        raise typer.Exit(EXIT_FLAGGED)
    if any(b.problems for b in bundles):
        raise typer.Exit(EXIT_UNREADABLE)


def _fail(err: Console, message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _record(err: Console, reports: list[CertReport], now: datetime, db: str | None) -> None:
    from trailguard import settings
    from trailguard.errors import ConfigError, TrailguardError
    from trailguard.findings.model import to_ms
    from trailguard.findings.store import Store
    from trailguard.posture.certs_findings import certificate_hits

    hits = certificate_hits(reports, now)
    try:
        store = Store.open(settings.resolve_db(db))
    except ConfigError as exc:
        raise _fail(err, str(exc), EXIT_USAGE) from exc
    except TrailguardError as exc:
        raise _fail(err, str(exc), EXIT_ERROR) from exc
    try:
        result = store.record_hits(hits, to_ms(now))
    except TrailguardError as exc:
        raise _fail(err, str(exc), EXIT_ERROR) from exc
    finally:
        store.close()
    err.print(
        f"recorded {len(hits)} flags as findings: "
        f"{len(result.new)} new, {len(result.updated)} updated"
    )


def _issuer_text(r: CertReport) -> str:
    if r.self_signed:
        return "self-signed"
    if r.issued_by is not None:
        return f"#{r.issued_by} {escape(r.issuer_cn)}"
    return f"[cyan]not in bundle:[/cyan] {escape(r.issuer_cn)}"


def _flags_text(flags: tuple[Flag, ...]) -> str:
    return " ".join(f"[{FLAG_STYLE[str(f)]}]{f}[/]" for f in flags) or "[green]ok[/green]"


def _tables(out: Console, bundles: list[Bundle], reports: list[list[CertReport]]) -> None:
    for bundle, rows in zip(bundles, reports, strict=True):
        title = f"{escape(bundle.name)}: {len(rows)} certificates, by expiry"
        t = Table(title=title, title_justify="left")
        t.add_column("#", justify="right")
        t.add_column("subject", overflow="fold")
        t.add_column("issuer", overflow="fold")
        t.add_column("not after")
        t.add_column("days", justify="right")
        t.add_column("key")
        t.add_column("signature")
        t.add_column("flags")
        t.add_column("where", overflow="fold")
        for r in rows:
            where = r.position if r.source == bundle.name else f"{r.source} {r.position}"
            t.add_row(
                str(r.index),
                escape(r.subject_cn),
                _issuer_text(r),
                r.not_after.strftime("%Y-%m-%d %H:%M"),
                str(r.days_left),
                escape(r.key),
                escape(r.signature_algorithm),
                _flags_text(r.flags),
                escape(where),
            )
        if rows:
            out.print(t)
        for r in rows:
            for note in r.notes:
                out.print(f"[dim]#{r.index}: {escape(note)}[/dim]")
        for note in bundle.notes:
            out.print(f"[dim]{escape(note)}[/dim]")


def _summary(out: Console, bundles: list[Bundle], flat: list[CertReport]) -> None:
    flagged = sum(1 for r in flat if r.flags)
    problems = sum(len(b.problems) for b in bundles)
    out.print(
        f"{len(flat)} certificates in {len(bundles)} sources: {flagged} flagged, "
        f"{problems} unreadable inputs"
    )


def _json(
    bundles: list[Bundle], reports: list[list[CertReport]], now: datetime, warn_days: int
) -> dict[str, Any]:
    return {
        "checked_at": now.isoformat().replace("+00:00", "Z"),
        "warn_days": warn_days,
        "bundles": [
            {
                "source": b.name,
                "certificates": [r.as_dict() for r in rows],
                "problems": [
                    {"source": p.source, "position": p.position, "reason": p.reason}
                    for p in b.problems
                ],
                "notes": list(b.notes),
            }
            for b, rows in zip(bundles, reports, strict=True)
        ],
    }


def _csv(reports: list[list[CertReport]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rows in reports:
        for r in rows:
            d = r.as_dict()
            d["issuers"] = " ".join(str(i) for i in d["issuers"])
            d["flags"] = " ".join(d["flags"])
            d["notes"] = "; ".join(d["notes"])
            d["issued_by"] = "" if d["issued_by"] is None else d["issued_by"]
            d["key_size"] = "" if d["key_size"] is None else d["key_size"]
            writer.writerow({k: d[k] for k in CSV_COLUMNS})
