"""What ``trailguard posture`` prints: a summary table per check, the failing resources,
what was skipped and why, and the accounts that could not be reached; or all of it as
JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from trailguard.findings.model import severity_label
from trailguard.posture.checks import ALL_CHECKS, Check, CheckResult
from trailguard.posture.checks.base import STATUSES
from trailguard.posture.run import PostureRun

_STYLE: Final = {"Low": "cyan", "Medium": "yellow", "High": "red", "Critical": "bold red"}
_STATUS_STYLE: Final = {"PASS": "green", "FAIL": "red", "INFO": "blue", "SKIPPED": "yellow"}


def counts(
    results: Sequence[CheckResult], checks: Sequence[Check] = ALL_CHECKS
) -> list[dict[str, Any]]:
    """Per check: its metadata and how many resources got each status."""
    by_check: dict[str, Counter[str]] = {c.meta.id: Counter() for c in checks}
    worst: dict[str, float] = {}
    for r in results:
        by_check.setdefault(r.check_id, Counter())[r.status] += 1
        if r.status == "FAIL":
            worst[r.check_id] = max(worst.get(r.check_id, 0.0), r.severity)
    out: list[dict[str, Any]] = []
    for c in checks:
        tally = by_check[c.meta.id]
        severity = worst.get(c.meta.id, c.meta.severity)
        out.append(
            {
                "check": c.meta.id,
                "findingType": c.meta.finding_type,
                "service": c.meta.service,
                "severity": severity_label(severity),
                **{s: tally.get(s, 0) for s in STATUSES},
            }
        )
    return out


def _result_json(r: CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "check": r.check_id,
        "status": r.status,
        "accountId": r.account_id,
        "region": r.region,
        "resourceType": r.resource_type,
        "resource": r.resource_key,
        "message": r.message,
    }
    if r.status == "FAIL":
        out["severity"] = severity_label(r.severity)
        out["findingType"] = r.finding_type
    if r.skipped is not None:
        out["skipped"] = {"api": r.skipped.api, "kind": r.skipped.kind, "reason": r.skipped.reason}
    return out


def as_json(run: PostureRun, checks: Sequence[Check] = ALL_CHECKS) -> dict[str, Any]:
    results = run.results
    return {
        "accounts": [
            {
                "accountId": a.account_id,
                "name": a.target.name,
                "regions": list(a.regions),
                "reachable": a.error is None,
                **({"error": a.error} if a.error else {}),
            }
            for a in run.accounts
        ],
        "checks": counts(results, checks),
        "results": [_result_json(r) for r in results],
        "findings": {"new": run.new, "updated": run.updated, "archived": run.archived},
    }


def _label(severity: float) -> str:
    label = severity_label(severity)
    return f"[{_STYLE[label]}]{label}[/]"


def print_report(run: PostureRun, console: Console, checks: Sequence[Check] = ALL_CHECKS) -> None:
    results = run.results
    summary = Table(title="Posture checks", title_justify="left")
    for col in ("check", "service", "severity"):
        summary.add_column(col)
    for s in STATUSES:
        summary.add_column(s, justify="right")
    for row in counts(results, checks):
        cells = []
        for s in STATUSES:
            n = row[s]
            cells.append(f"[{_STATUS_STYLE[s]}]{n}[/]" if n else "0")
        summary.add_row(row["check"], row["service"], row["severity"], *cells)
    console.print(summary)

    failing = sorted(
        (r for r in results if r.status == "FAIL"),
        key=lambda r: (-r.severity, r.check_id, r.account_id, r.region, r.resource_key),
    )
    if failing:
        t = Table(title=f"Failing resources ({len(failing)})", title_justify="left")
        for col in ("severity", "check", "account", "region", "resource", "why"):
            t.add_column(col, overflow="fold")
        for r in failing:
            t.add_row(
                _label(r.severity), r.check_id, r.account_id, r.region, r.resource_key, r.message
            )
        console.print(t)

    skipped = Counter(
        (r.account_id, r.region, str(r.skipped)) for r in results if r.skipped is not None
    )
    if skipped:
        t = Table(title="Skipped (not checked)", title_justify="left")
        for col in ("account", "region", "why", "results"):
            t.add_column(col, overflow="fold")
        for (account, region, why), n in sorted(skipped.items()):
            t.add_row(account, region, why, str(n))
        console.print(t)

    for a in run.unreachable:
        console.print(
            f"[red]account unreachable[/red] {a.target.label}: {a.error}",
            markup=True,
            highlight=False,
        )
    total = Counter(r.status for r in results)
    console.print(
        f"{len(run.accounts)} accounts, "
        + ", ".join(f"{total.get(s, 0)} {s}" for s in STATUSES)
        + f"; findings: {run.new} new, {run.updated} updated, {run.archived} archived",
        highlight=False,
    )
