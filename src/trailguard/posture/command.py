"""CLI commands of this package, registered on the ``trailguard`` app by ``trailguard.cli``.

Heavy imports stay inside the command functions, so ``trailguard --help`` starts quickly.

``trailguard posture`` exit codes (documented in docs/posture.md):

* 0 - every check passed (or failed below ``--fail-on``), nothing skipped;
* 1 - trailguard itself failed (the store);
* 2 - usage or configuration error (a bad ``--accounts`` file, setting or option);
* 3 - failures at or above ``--fail-on`` (default: low, so any failure);
* 4 - some checks were skipped (an API denied, throttled or not implemented) or some
  accounts could not be reached.

3 wins over 4 when both apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, Optional

import typer

from trailguard.options import DbOpt

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_FAILURES: Final = 3
EXIT_SKIPPED: Final = 4
_SEVERITIES: Final = ("low", "medium", "high", "critical")


def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values, in order, once each."""
    out: list[str] = []
    for v in values or []:
        for part in v.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def posture(
    db: DbOpt = None,
    profile: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--profile", help="AWS profile of the credentials to use."),
    ] = None,
    regions: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--regions",
            help="Regions to check (repeat or separate with commas; default: every region "
            "enabled in the account).",
        ),
    ] = None,
    accounts: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--accounts", help="TOML file of accounts, each with a role to assume.", dir_okay=False
        ),
    ] = None,
    endpoint_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--endpoint-url", help="One endpoint for every AWS service (testing)."),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table (default) or json.")
    ] = "table",
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Exit 3 if a check fails at or above this severity (low, medium, high, critical).",
        ),
    ] = "low",
    only: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--check", help="Run only these checks (repeat or separate with commas)."),
    ] = None,
    concurrency: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--concurrency", min=1, help="AWS calls at once (default: 8)."),
    ] = None,
) -> None:
    """Check account configuration (S3, CloudTrail, exposed databases, RDS CAs, log
    coverage) and store the failures as findings."""
    import json
    import sys
    from datetime import UTC, datetime

    from rich.console import Console

    from trailguard import settings
    from trailguard.errors import ConfigError, TrailguardError
    from trailguard.findings.model import severity_floor
    from trailguard.findings.store import Store
    from trailguard.posture.accounts import AccountTarget, load_accounts
    from trailguard.posture.aws import AwsOptions
    from trailguard.posture.checks import ALL_CHECKS
    from trailguard.posture.report import as_json, print_report
    from trailguard.posture.run import posture_config, record, run_posture

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)

    def fail(message: str, code: int) -> typer.Exit:
        err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
        return typer.Exit(code)

    if output_format not in ("table", "json"):
        raise fail("--format takes table or json", EXIT_USAGE)
    if fail_on.lower() not in _SEVERITIES:
        raise fail(f"--fail-on takes one of {', '.join(_SEVERITIES)}", EXIT_USAGE)
    wanted = _split(only)
    known = {c.meta.id: c for c in ALL_CHECKS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise fail(f"unknown check {', '.join(unknown)}", EXIT_USAGE)
    checks = [known[w] for w in wanted] if wanted else list(ALL_CHECKS)

    try:
        cfg = settings.load_config()
        config = posture_config(cfg)
        targets = load_accounts(accounts) if accounts else [AccountTarget(None)]
        options = AwsOptions(
            profile=profile,
            endpoint_url=endpoint_url,
            concurrency=int(settings.get("posture_concurrency", concurrency, cfg)),
            max_attempts=int(settings.get("posture_max_attempts", None, cfg)),
        )
        store = Store.open(settings.resolve_db(db, cfg))
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except TrailguardError as exc:
        raise fail(str(exc), EXIT_ERROR) from exc

    def clock() -> datetime:
        return datetime.now(UTC)

    try:
        run = run_posture(targets, options, config, clock, _split(regions), checks)
        record(store, run, int(clock().timestamp() * 1000), checks)
    except TrailguardError as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    finally:
        store.close()

    if output_format == "json":
        sys.stdout.write(json.dumps(as_json(run, checks), indent=2, sort_keys=True) + "\n")
    else:
        print_report(run, out, checks)
    floor = severity_floor(fail_on)
    if any(r.status == "FAIL" and r.severity >= floor for r in run.results):
        raise typer.Exit(EXIT_FAILURES)
    if run.unreachable or any(r.status == "SKIPPED" for r in run.results):
        raise typer.Exit(EXIT_SKIPPED)


def register(app: typer.Typer) -> None:
    """Add ``trailguard posture`` to ``app``."""
    app.command("posture")(posture)
