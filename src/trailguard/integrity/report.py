"""Printing a verification report: the AWS CLI's layout as text, or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from trailguard.integrity.results import Report, Status
from trailguard.integrity.times import fmt_z

Write = Callable[[str], object]


def _window(start: datetime | None, end: datetime) -> tuple[str, str]:
    return (fmt_z(start) if start else "the oldest digest", fmt_z(end))


def found_range(report: Report) -> tuple[datetime, datetime] | None:
    """Like the CLI: the span of valid digests, clipped to the requested window."""
    valid = [r for r in report.files if r.kind == "digest" and r.status is Status.VALID]
    if not valid:
        return None
    times = [r.time for r in valid if r.time is not None]
    if not times:
        return None
    first, last = min(times), max(times)
    if report.requested_start is not None:
        first = max(first, report.requested_start)
    return first, min(last, report.requested_end)


def _ratio(counts: dict[str, int], noun: str) -> str | None:
    total = sum(counts.values())
    if not total:
        return None
    parts = [f"{counts.get('valid', 0)}/{total} {noun} valid"]
    for status in ("INVALID", "unverified", "unlisted", "unreadable"):
        n = counts.get(status, 0)
        if n:
            parts.append(f"{n}/{total} {noun} {status}")
    return ", ".join(parts)


def summary_lines(report: Report) -> list[str]:
    start, end = _window(report.requested_start, report.requested_end)
    lines = [f"Results requested for {start} to {end}"]
    tally = report.tally()
    found = found_range(report)
    if report.nothing_found:
        lines.append("No digests found")
    elif found is None:
        lines.append("No valid digests found in range")
    else:
        lines.append(f"Results found for {fmt_z(found[0])} to {fmt_z(found[1])}:")
    lines.append("")
    for kind, noun in (
        ("digest", "digest files"),
        ("backfill digest", "backfill digest files"),
        ("log", "log files"),
    ):
        text = _ratio(dict(tally[kind]), noun)
        if text:
            lines.append(text)
    pending = tally["log"].get("pending", 0)
    if pending:
        lines.append(f"{pending} log files pending (newer than the delivery delay)")
    kinds = [s.kind.value for s in report.spans]
    for kind in sorted(set(kinds)):
        lines.append(f"{kinds.count(kind)} {kind} spans (time no digest covers)")
    lines.extend(f"note: {n}" for n in report.notes)
    lines.extend(f"error: {e}" for e in report.errors)
    return lines


def write_text(report: Report, source: str, verbose: bool, write: Write) -> None:
    start, end = _window(report.requested_start, report.requested_end)
    write(f"Validating log files in {source} between {start} and {end}\n\n")
    for r in report.files:
        if verbose or r.failed or r.status is Status.UNREADABLE:
            write(r.line() + "\n")
    for s in report.spans:
        write(s.line() + "\n")
    if report.files or report.spans:
        write("\n")
    write("\n".join(summary_lines(report)) + "\n")


def write_json(report: Report, source: str, write: Write) -> None:
    """JSON lines: one object per file, one per span, then a summary object."""
    for r in report.files:
        write(json.dumps(r.as_json()) + "\n")
    for s in report.spans:
        write(json.dumps(s.as_json()) + "\n")
    found = found_range(report)
    tally = report.tally()
    summary = {
        "type": "summary",
        "source": source,
        "requestedStart": fmt_z(report.requested_start) if report.requested_start else None,
        "requestedEnd": fmt_z(report.requested_end),
        "foundStart": fmt_z(found[0]) if found else None,
        "foundEnd": fmt_z(found[1]) if found else None,
        "digests": dict(tally["digest"]),
        "backfillDigests": dict(tally["backfill digest"]),
        "logs": dict(tally["log"]),
        "spans": len(report.spans),
        "chains": [c.label() for c in report.chains],
        "notes": report.notes,
        "errors": report.errors,
        "exitStatus": report.exit_status(),
    }
    write(json.dumps(summary) + "\n")
