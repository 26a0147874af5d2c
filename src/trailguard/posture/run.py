"""A posture run: for each account, assume its role, read one snapshot, run every check;
then store the failures as findings and archive the findings of what was fixed.

One account that cannot be reached is reported and the others are still checked; a
check that raises is reported as SKIPPED for that account, never stops the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import boto3

from trailguard import settings
from trailguard.detect.hit import Hit
from trailguard.errors import AwsApiError, ConfigError
from trailguard.findings.model import finding_id
from trailguard.findings.store import FindingFilter, Store
from trailguard.posture.accounts import AccountTarget
from trailguard.posture.aws import Aws, AwsOptions, new_session
from trailguard.posture.checks import ALL_CHECKS, Check, CheckResult
from trailguard.posture.checks.base import GLOBAL
from trailguard.posture.checks.s3 import BucketCheck
from trailguard.posture.model import AccountSnapshot, PostureConfig, Unavailable
from trailguard.posture.snapshot import take_snapshot

FEATURE: Final = "Posture"
SESSION_NAME: Final = "trailguard-posture"


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    """One account's part of a run: its results, or why it could not be reached."""

    target: AccountTarget
    account_id: str | None
    regions: tuple[str, ...] = ()
    error: str | None = None
    snapshot: AccountSnapshot | None = None
    results: tuple[CheckResult, ...] = ()


@dataclass(slots=True)
class PostureRun:
    """Every account's outcome, and what storing the results changed."""

    accounts: list[AccountOutcome] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    archived: int = 0

    @property
    def results(self) -> list[CheckResult]:
        return [r for a in self.accounts for r in a.results]

    @property
    def unreachable(self) -> list[AccountOutcome]:
        return [a for a in self.accounts if a.error is not None]


def posture_config(config: dict[str, Any] | None = None) -> PostureConfig:
    """The checks' conventions from the settings (environment, config file, defaults)."""

    def get(name: str) -> Any:
        return settings.get(name, None, config)

    try:
        ports = frozenset(int(p) for p in get("database_ports"))
    except ValueError as exc:
        raise ConfigError(f"database_ports must be port numbers: {exc}") from exc
    return PostureConfig(
        keep_forever_buckets=frozenset(get("keep_forever_buckets")),
        keep_forever_tag=str(get("keep_forever_tag")),
        undelete_window_days=int(get("undelete_window_days")),
        database_ports=ports,
        environment_tag=str(get("environment_tag")),
        production_values=frozenset(v.lower() for v in get("production_values")),
    )


def evaluate(snapshot: AccountSnapshot, checks: Sequence[Check] = ALL_CHECKS) -> list[CheckResult]:
    """Every check over one snapshot; a check that raises is SKIPPED with its error."""
    out: list[CheckResult] = []
    for check in checks:
        try:
            out.extend(check.evaluate(snapshot))
        except Exception as exc:
            gap = Unavailable(f"check:{check.meta.id}", "error", f"{type(exc).__name__}: {exc}")
            out.append(check.skip(snapshot, gap))
    return out


def _account_session(
    base: Aws, target: AccountTarget, options: AwsOptions
) -> tuple[boto3.Session, str]:
    """The session for ``target`` and its account id (AwsApiError if unreachable)."""
    region = base.session.region_name or options.default_region
    if target.role_arn is None:
        who = base.call("sts", region, "GetCallerIdentity") or {}
        return base.session, str(who.get("Account") or "unknown")
    params: dict[str, Any] = {"RoleArn": target.role_arn, "RoleSessionName": SESSION_NAME}
    if target.external_id:
        params["ExternalId"] = target.external_id
    got = base.call("sts", region, "AssumeRole", **params) or {}
    creds = got.get("Credentials") or {}
    session = boto3.Session(
        aws_access_key_id=creds.get("AccessKeyId"),
        aws_secret_access_key=creds.get("SecretAccessKey"),
        aws_session_token=creds.get("SessionToken"),
        region_name=region,
    )
    return session, str(target.account_id)


def _regions(aws: Aws, target: AccountTarget, cli_regions: Sequence[str]) -> tuple[str, ...]:
    if cli_regions:
        return tuple(cli_regions)
    if target.regions:
        return target.regions
    home = aws.session.region_name or aws.options.default_region
    try:
        got = aws.call("ec2", home, "DescribeRegions") or {}
    except AwsApiError:
        return (home,)  # the enabled regions are unknown: at least the session's own
    names = sorted(str(r["RegionName"]) for r in got.get("Regions", []))
    return tuple(names) or (home,)


def run_posture(
    targets: Sequence[AccountTarget],
    options: AwsOptions,
    config: PostureConfig,
    clock: Callable[[], datetime],
    regions: Sequence[str] = (),
    checks: Sequence[Check] = ALL_CHECKS,
    on_account: Callable[[AccountOutcome], None] | None = None,
) -> PostureRun:
    """Check every account of ``targets`` (one at a time; calls within an account run
    side by side, all through one gate of ``options.concurrency`` calls)."""
    run = PostureRun()
    gate = threading.BoundedSemaphore(max(1, options.concurrency))
    try:
        base = Aws(new_session(options), options, gate)
    except AwsApiError as exc:
        run.accounts = [AccountOutcome(t, t.account_id, error=str(exc)) for t in targets]
        return run
    for target in targets:
        outcome = _run_account(base, target, options, config, clock, regions, checks, gate)
        run.accounts.append(outcome)
        if on_account is not None:
            on_account(outcome)
    return run


def _run_account(
    base: Aws,
    target: AccountTarget,
    options: AwsOptions,
    config: PostureConfig,
    clock: Callable[[], datetime],
    regions: Sequence[str],
    checks: Sequence[Check],
    gate: threading.BoundedSemaphore,
) -> AccountOutcome:
    try:
        session, account_id = _account_session(base, target, options)
    except AwsApiError as exc:
        return AccountOutcome(target, target.account_id, error=str(exc))
    aws = Aws(session, options, gate)
    scope = _regions(aws, target, regions)
    needs = frozenset().union(*(c.meta.needs for c in checks))
    snapshot = take_snapshot(aws, account_id, scope, config, clock, target.name, needs)
    return AccountOutcome(
        target, account_id, scope, snapshot=snapshot, results=tuple(evaluate(snapshot, checks))
    )


# --- findings ---------------------------------------------------------------------------


def _hit(r: CheckResult, check: Check, snapshot: AccountSnapshot) -> Hit:
    meta = check.meta
    when = snapshot.taken_at
    return Hit(
        detection_id=meta.id,
        finding_type=r.finding_type,
        severity=r.severity,
        title=r.message,
        description=f"{meta.title}: failed for {r.resource_key}. {r.message}. Risk: {meta.risk}",
        account_id=r.account_id,
        region=r.region,
        resource_type=r.resource_type,
        resource_key=r.resource_key,
        actor_key="",
        resource=dict(r.resource),
        action={
            "actionType": "POSTURE_CHECK",
            "postureCheckAction": {
                "checkId": meta.id,
                "service": meta.service,
                "status": r.status,
                "message": r.message,
            },
        },
        first_seen=when,
        last_seen=when,
        # one occurrence per run: count says in how many runs the check failed
        event_key=f"posture:{when.isoformat()}",
        object=f"posture:{r.account_id}",
        position=r.region,
        feature=FEATURE,
        additional_info={
            "checkId": meta.id,
            "risk": meta.risk,
            "remediation": {"cli": meta.remediation_cli, "console": meta.remediation_console},
        },
    )


def _fid(r: CheckResult) -> str:
    return finding_id(r.finding_type, r.account_id, r.region, r.resource_key, "")


def record(
    store: Store, run: PostureRun, now_ms: int, checks: Sequence[Check] = ALL_CHECKS
) -> None:
    """Store FAIL results as findings; archive open findings of fixed or vanished resources.

    A finding of a check is archived when the check now PASSes (or only INFO) for its
    resource, or when the check saw the whole scope of the finding without meeting its
    resource again (a deleted bucket, a removed security group).  Findings of resources
    that were SKIPPED, of regions not read, and of unreachable accounts stay as they are.
    """
    by_id = {c.meta.id: c for c in checks}
    hits: list[Hit] = []
    for outcome in run.accounts:
        if outcome.snapshot is None:
            continue
        for r in outcome.results:
            if r.status == "FAIL":
                hits.append(_hit(r, by_id[r.check_id], outcome.snapshot))
    result = store.record_hits(hits, now_ms)
    run.new, run.updated = len(result.new), len(result.updated)
    to_archive: list[str] = []
    for outcome in run.accounts:
        if outcome.snapshot is None or outcome.account_id is None:
            continue
        for check in checks:
            mine = [r for r in outcome.results if r.check_id == check.meta.id]
            to_archive.extend(_fixed(store, check, outcome, mine))
    if to_archive:
        run.archived = store.set_archived(sorted(set(to_archive)), True, now_ms)


def _fixed(
    store: Store, check: Check, outcome: AccountOutcome, results: Iterable[CheckResult]
) -> list[str]:
    failing: set[str] = set()
    passing: set[str] = set()
    held: set[str] = set()
    blind_regions: set[str] = set()
    for r in results:
        fid = _fid(r)
        if r.status == "FAIL":
            failing.add(fid)
        elif r.status == "SKIPPED":
            held.add(fid)
            if r.resource_type == "Account":
                blind_regions.add(r.region)
        else:
            passing.add(fid)
    open_findings = store.list_findings(
        FindingFilter(
            types=(check.meta.finding_type,), account_id=outcome.account_id, archived=False
        )
    )
    seen_everywhere = isinstance(check, BucketCheck)  # buckets are listed account-wide
    out = []
    for doc in open_findings:
        fid, region = str(doc["id"]), str(doc.get("region"))
        if fid in failing or fid in held:
            continue
        if fid in passing:
            out.append(fid)
            continue
        covered = seen_everywhere or region == GLOBAL or region in outcome.regions
        if covered and GLOBAL not in blind_regions and region not in blind_regions:
            out.append(fid)
    return out
