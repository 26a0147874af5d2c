"""S3: versioning, MFA delete, lifecycle (undelete window, keep-forever), public access,
default encryption and server access logging."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Final

from trailguard.posture.checks.base import (
    GLOBAL,
    HIGH,
    LOW,
    MEDIUM,
    Check,
    CheckMeta,
    CheckResult,
    Status,
    account_resource,
    tag_list,
)
from trailguard.posture.model import AccountSnapshot, Bucket, PublicAccessBlock, Unavailable

ALL_USERS: Final = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS: Final = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_TRUE_TAG: Final = frozenset({"true", "yes", "1"})
# condition keys that tie a statement to named accounts, organisations, networks or sources
_RESTRICTING_KEYS: Final = frozenset(
    k.lower()
    for k in (
        "aws:SourceArn",
        "aws:SourceAccount",
        "aws:SourceOwner",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceIp",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:userid",
        "aws:username",
        "s3:DataAccessPointAccount",
        "s3:DataAccessPointArn",
    )
)
# condition keys whose values are ARNs, organisation IDs or organisation paths
_ARN_KEYS: Final = frozenset(
    k.lower() for k in ("aws:SourceArn", "aws:PrincipalArn", "s3:DataAccessPointArn")
)
_ORG_PATH_KEYS: Final = frozenset(
    k.lower() for k in ("aws:SourceOrgPaths", "aws:PrincipalOrgPaths")
)
_WILDCARD: Final = re.compile(r"[*?]")
# an aws:SourceIp test is open when its ranges cover 1/256 of the address space or more
# (a /8 of IPv4, a /8 of IPv6): a "restriction" that wide is the internet, not a network
_OPEN_SHARE: Final = 256


def bucket_resource(b: Bucket) -> dict[str, Any]:
    """GuardDuty's S3 resource shape."""
    details: dict[str, Any] = {"arn": b.arn, "name": b.name, "type": "Destination"}
    if b.created is not None:
        details["createdAt"] = b.created.isoformat()
    tags = tag_list(b.tags)
    if tags:
        details["tags"] = tags
    return {"resourceType": "S3Bucket", "s3BucketDetails": [details]}


def keep_forever(b: Bucket, snapshot: AccountSnapshot) -> bool | Unavailable:
    """Whether the user marks ``b`` "keep forever": the ``keep_forever_buckets`` list, or
    the ``keep_forever_tag`` tag with value ``true``."""
    cfg = snapshot.config
    if b.name in cfg.keep_forever_buckets:
        return True
    if isinstance(b.tags, Unavailable):
        return b.tags
    return b.tags.get(cfg.keep_forever_tag, "").strip().lower() in _TRUE_TAG


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _anyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _as_list(principal.get(k)) for k in ("AWS", "CanonicalUser"))
    return False


def _ips_open(values: list[str]) -> bool:
    """Whether aws:SourceIp ``values`` together cover 1/256 of the IPv4 or the IPv6 space
    or more (a value that is not an address or range counts as open)."""
    nets: dict[int, list[Any]] = {4: [], 6: []}
    for v in values:
        try:
            net = ipaddress.ip_network(v.strip(), strict=False)
        except ValueError:
            return True
        nets[net.version].append(net)
    for version, bits in ((4, 32), (6, 128)):
        covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(nets[version]))
        if covered * _OPEN_SHARE >= 2**bits:
            return True
    return False


def _value_restricts(key: str, value: str) -> bool:
    """Whether one condition value names particular sources. Without ``*``/``?`` it does
    (a literal value); with them only when the literal text before the first wildcard
    already pins the owner: an ARN's account (``arn:aws:iam::111122223333:role/*``) or an
    S3 ARN's bucket (``arn:aws:s3:::bucket/*``), an organisation path's organisation
    (``o-abc/r-ab12/ou-*``), a user ID's principal (``AROAEXAMPLE:*``)."""
    m = _WILDCARD.search(value)
    if m is None:
        return value != ""
    prefix = value[: m.start()]
    if key in _ARN_KEYS:
        fields = prefix.split(":")
        if len(fields) >= 6 and fields[0] == "arn" and fields[4]:
            return True  # arn:partition:service:region:account: all literal
        return bool(
            len(fields) >= 6
            and fields[0] == "arn"
            and fields[2] == "s3"
            and re.fullmatch(r"[^/]+/.*", ":".join(fields[5:]))
        )
    if key in _ORG_PATH_KEYS:
        return re.match(r"o-[a-z0-9]+/", prefix) is not None
    if key == "aws:userid":
        return re.match(r"[A-Z0-9]+:", prefix) is not None
    return False


def _restricted(condition: Any) -> bool:
    """Whether a statement's Condition narrows "anyone" to named sources.

    Only positive tests that are false when the key is absent count: ``Not…``,
    ``…IfExists``, ``Null`` and ``ForAllValues:`` (true on an absent key) never restrict.
    A test restricts when every one of its values does (the values are alternatives)."""
    if not isinstance(condition, Mapping):
        return False
    for operator, tests in condition.items():
        op = str(operator)
        if (
            "Not" in op
            or "IfExists" in op
            or op == "Null"
            or op.lower().startswith("forallvalues:")
            or not isinstance(tests, Mapping)
        ):
            continue
        for key, values in tests.items():
            k = str(key).lower()
            if k not in _RESTRICTING_KEYS:
                continue
            vals = [str(v) for v in _as_list(values)]
            if not vals:
                continue
            if k == "aws:sourceip":
                if not _ips_open(vals):
                    return True
            elif all(_value_restricts(k, v) for v in vals):
                return True
    return False


def public_statements(policy: Mapping[str, Any] | None) -> list[str]:
    """The Allow statements (Sid or position) that grant anyone access, unconditionally.
    ``NotPrincipal`` in an Allow grants everyone but the principals it lists, so it counts
    as anyone."""
    if not policy:
        return []
    out = []
    for i, st in enumerate(_as_list(policy.get("Statement"))):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        anyone = "NotPrincipal" in st or _anyone(st.get("Principal"))
        if anyone and not _restricted(st.get("Condition")):
            out.append(str(st.get("Sid") or f"statement {i + 1}"))
    return out


def public_grants(acl: tuple[Any, ...]) -> list[str]:
    """ACL grants to everyone (AllUsers) or to any AWS user (AuthenticatedUsers)."""
    return [
        f"{g.permission} to {g.grantee.rsplit('/', 1)[-1]}"
        for g in acl
        if g.grantee_type == "Group" and g.grantee in (ALL_USERS, AUTHENTICATED_USERS)
    ]


def effective_block(
    b: Bucket, snapshot: AccountSnapshot
) -> tuple[PublicAccessBlock, list[Unavailable]]:
    """Bucket and account Block Public Access combined (either level blocks), and which of
    the two could not be read (read as "not blocking")."""
    gaps = []
    levels = []
    for level in (b.public_access_block, snapshot.account_public_access_block):
        if isinstance(level, Unavailable):
            gaps.append(level)
        elif level is not None:
            levels.append(level)
    return (
        PublicAccessBlock(
            block_public_acls=any(p.block_public_acls for p in levels),
            ignore_public_acls=any(p.ignore_public_acls for p in levels),
            block_public_policy=any(p.block_public_policy for p in levels),
            restrict_public_buckets=any(p.restrict_public_buckets for p in levels),
        ),
        gaps,
    )


def public_exposure(b: Bucket, snapshot: AccountSnapshot) -> list[str] | Unavailable:
    """How ``b`` is open to the public, after Block Public Access; ``[]`` if it is not."""
    if isinstance(b.policy, Unavailable):
        return b.policy
    if isinstance(b.acl, Unavailable):
        return b.acl
    block, _gaps = effective_block(b, snapshot)
    found = []
    if not block.restrict_public_buckets:
        found += [f"bucket policy {s} allows anyone" for s in public_statements(b.policy)]
    if not block.ignore_public_acls:
        found += [f"ACL grants {g}" for g in public_grants(b.acl)]
    return found


class BucketCheck(Check):
    """A check that looks at every bucket of the account."""

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        if isinstance(snapshot.buckets, Unavailable):
            return [self.skip(snapshot, snapshot.buckets)]
        out: list[CheckResult] = []
        for b in snapshot.buckets:
            out.extend(self.bucket(snapshot, b))
        return out

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        raise NotImplementedError

    def on(
        self,
        snapshot: AccountSnapshot,
        b: Bucket,
        status: Status,
        message: str,
        severity: float | None = None,
    ) -> CheckResult:
        return self.result(
            snapshot,
            status,
            b.region,
            "S3Bucket",
            b.name,
            bucket_resource(b),
            message,
            severity=severity,
        )

    def gap(self, snapshot: AccountSnapshot, b: Bucket, gap: Unavailable) -> CheckResult:
        return self.skip(snapshot, gap, b.region, "S3Bucket", b.name, bucket_resource(b))


class S3BucketVersioningCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_versioning",
        finding_type="Policy:S3/BucketVersioningDisabled",
        severity=MEDIUM,
        service="S3",
        title="Bucket versioning is enabled",
        risk="Without versioning, an overwritten or deleted object is gone: ransomware, a "
        "mistaken sync or an intruder cleaning up leaves nothing to restore.",
        remediation_cli="aws s3api put-bucket-versioning --bucket BUCKET "
        "--versioning-configuration Status=Enabled",
        remediation_console="S3 > Buckets > BUCKET > Properties > Bucket Versioning > Edit > "
        "Enable > Save changes.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        if isinstance(b.versioning, Unavailable):
            yield self.gap(snapshot, b, b.versioning)
        elif b.versioning == "Enabled":
            yield self.on(snapshot, b, "PASS", f"{b.name}: versioning is enabled")
        else:
            state = "suspended" if b.versioning == "Suspended" else "never enabled"
            yield self.on(snapshot, b, "FAIL", f"{b.name}: versioning is {state}")


class S3BucketMfaDeleteCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_mfa_delete",
        finding_type="Policy:S3/BucketMFADeleteDisabled",
        severity=HIGH,
        service="S3",
        title="MFA delete is enabled on keep-forever buckets (informational on the others)",
        risk="Without MFA delete, anyone with the bucket's delete permissions - stolen keys "
        "included - can permanently delete object versions or suspend versioning.",
        remediation_cli="aws s3api put-bucket-versioning --bucket BUCKET "
        "--versioning-configuration Status=Enabled,MFADelete=Enabled "
        '--mfa "arn:aws:iam::ACCOUNT:mfa/root-account-mfa-device CODE"  '
        "(as the root user, with its MFA device)",
        remediation_console="Not possible in the console: MFA delete is enabled by the root "
        "user through the CLI or API (see the command above).",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        if isinstance(b.mfa_delete, Unavailable):
            yield self.gap(snapshot, b, b.mfa_delete)
            return
        if b.mfa_delete:
            yield self.on(snapshot, b, "PASS", f"{b.name}: MFA delete is enabled")
            return
        forever = keep_forever(b, snapshot)
        if isinstance(forever, Unavailable):
            yield self.gap(snapshot, b, forever)
        elif forever:
            yield self.on(snapshot, b, "FAIL", f"{b.name}: keep-forever bucket without MFA delete")
        else:
            yield self.on(snapshot, b, "INFO", f"{b.name}: MFA delete is off (not keep-forever)")


class S3BucketUndeleteWindowCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_undelete_window",
        finding_type="Policy:S3/BucketUndeleteWindowMissing",
        severity=LOW,
        service="S3",
        title="Versioned buckets (not keep-forever) expire noncurrent versions after the "
        "undelete window",
        risk="With no expiry, every deleted or overwritten version is kept (and paid for) "
        "forever; with a short one, a deletion noticed late can no longer be undone.",
        remediation_cli="aws s3api put-bucket-lifecycle-configuration --bucket BUCKET "
        '--lifecycle-configuration \'{"Rules":[{"ID":"undelete-window","Status":'
        '"Enabled","Filter":{},"NoncurrentVersionExpiration":{"NoncurrentDays":DAYS}}]}\'',
        remediation_console="S3 > Buckets > BUCKET > Management > Create lifecycle rule > "
        "apply to all objects > Permanently delete noncurrent versions of objects > Days "
        "after objects become noncurrent: DAYS.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        if isinstance(b.versioning, Unavailable):
            yield self.gap(snapshot, b, b.versioning)
            return
        if b.versioning != "Enabled":
            return  # nothing noncurrent to expire: versioning's own check reports it
        forever = keep_forever(b, snapshot)
        if isinstance(forever, Unavailable):
            yield self.gap(snapshot, b, forever)
            return
        if forever:
            return  # keep-forever buckets must not expire anything (their own check)
        if isinstance(b.lifecycle, Unavailable):
            yield self.gap(snapshot, b, b.lifecycle)
            return
        window = snapshot.config.undelete_window_days
        days = [
            r.noncurrent_days
            for r in b.lifecycle
            if r.enabled and r.whole_bucket and r.noncurrent_days is not None
        ]
        if not days:
            yield self.on(
                snapshot,
                b,
                "FAIL",
                f"{b.name}: no lifecycle rule expires noncurrent versions of the whole bucket",
            )
        elif min(days) < window:
            yield self.on(
                snapshot,
                b,
                "FAIL",
                f"{b.name}: noncurrent versions expire after {min(days)} days, shorter than "
                f"the {window}-day undelete window",
            )
        else:
            yield self.on(
                snapshot, b, "PASS", f"{b.name}: noncurrent versions expire after {min(days)} days"
            )


class S3KeepForeverNoExpiryCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_keep_forever_no_expiry",
        finding_type="Policy:S3/KeepForeverBucketExpires",
        severity=HIGH,
        service="S3",
        title="Keep-forever buckets have no lifecycle rule that expires objects or versions",
        risk="A lifecycle expiry deletes data that was meant to be kept; MFA delete does not "
        "stop lifecycle deletions, so the two do not mix.",
        remediation_cli="aws s3api delete-bucket-lifecycle --bucket BUCKET  (or put a "
        "configuration without Expiration and NoncurrentVersionExpiration actions)",
        remediation_console="S3 > Buckets > BUCKET > Management > Lifecycle rules: delete or "
        "edit the rules that expire current or noncurrent versions.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        forever = keep_forever(b, snapshot)
        if isinstance(forever, Unavailable):
            yield self.gap(snapshot, b, forever)
            return
        if not forever:
            return
        if isinstance(b.lifecycle, Unavailable):
            yield self.gap(snapshot, b, b.lifecycle)
            return
        expiring = [r.id or "(no id)" for r in b.lifecycle if r.enabled and r.expires_anything]
        if expiring:
            yield self.on(
                snapshot,
                b,
                "FAIL",
                f"{b.name}: keep-forever bucket with expiring lifecycle rules: "
                + ", ".join(expiring),
            )
        else:
            yield self.on(snapshot, b, "PASS", f"{b.name}: no lifecycle rule expires data")


class S3AccountPublicAccessBlockCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_account_public_access_block",
        finding_type="Policy:S3/AccountBlockPublicAccessDisabled",
        severity=HIGH,
        service="S3",
        title="S3 Block Public Access is fully on at account level",
        risk="Without the account-level block, any bucket policy or ACL can make data public, "
        "by mistake or on purpose.",
        remediation_cli="aws s3control put-public-access-block --account-id ACCOUNT "
        "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
        "BlockPublicPolicy=true,RestrictPublicBuckets=true",
        remediation_console="S3 > Block Public Access settings for this account > Edit > "
        "Block all public access > Save changes.",
        needs=frozenset({"s3control"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        pab = snapshot.account_public_access_block
        if isinstance(pab, Unavailable):
            return [self.skip(snapshot, pab)]
        acct = account_resource(snapshot.account_id)
        key = snapshot.account_id
        if pab is not None and pab.all_on:
            msg = "account-level Block Public Access is fully on"
            return [self.result(snapshot, "PASS", GLOBAL, "Account", key, acct, msg)]
        off = (pab or PublicAccessBlock()).off()
        msg = "account-level Block Public Access is off: " + ", ".join(off)
        return [self.result(snapshot, "FAIL", GLOBAL, "Account", key, acct, msg)]


class S3BucketPublicAccessBlockCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_public_access_block",
        finding_type="Policy:S3/BucketBlockPublicAccessDisabled",
        severity=MEDIUM,
        service="S3",
        title="S3 Block Public Access is fully on for each bucket (at bucket or account level)",
        risk="A bucket without Block Public Access can be made public by one policy or ACL change.",
        remediation_cli="aws s3api put-public-access-block --bucket BUCKET "
        "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
        "BlockPublicPolicy=true,RestrictPublicBuckets=true",
        remediation_console="S3 > Buckets > BUCKET > Permissions > Block public access "
        "(bucket settings) > Edit > Block all public access > Save changes.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        block, gaps = effective_block(b, snapshot)
        if block.all_on:
            yield self.on(snapshot, b, "PASS", f"{b.name}: all public access is blocked")
        elif isinstance(b.public_access_block, Unavailable):
            yield self.gap(snapshot, b, b.public_access_block)
        else:
            unknown = f" (account level unknown: {gaps[0]})" if gaps else ""
            yield self.on(
                snapshot,
                b,
                "FAIL",
                f"{b.name}: Block Public Access off: {', '.join(block.off())}{unknown}",
            )


class S3BucketPublicGrantCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_public_grant",
        finding_type="Policy:S3/BucketPublicAccessGranted",
        severity=HIGH,
        service="S3",
        title="No bucket policy or ACL grants access to everyone (*, AllUsers, AuthenticatedUsers)",
        risk="Anyone on the internet (or any AWS user) can read or write the bucket's data.",
        remediation_cli="aws s3api delete-bucket-policy --bucket BUCKET  (or remove the "
        "statement); aws s3api put-bucket-acl --bucket BUCKET --acl private",
        remediation_console="S3 > Buckets > BUCKET > Permissions > Bucket policy: remove "
        'statements with Principal "*"; Access control list (ACL): remove Everyone and '
        "Authenticated users groups.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        found = public_exposure(b, snapshot)
        if isinstance(found, Unavailable):
            yield self.gap(snapshot, b, found)
        elif found:
            yield self.on(snapshot, b, "FAIL", f"{b.name}: " + "; ".join(found))
        else:
            yield self.on(snapshot, b, "PASS", f"{b.name}: no public grant")


class S3BucketDefaultEncryptionCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_default_encryption",
        finding_type="Policy:S3/BucketEncryptionDisabled",
        severity=MEDIUM,
        service="S3",
        title="Buckets have default encryption",
        risk="Objects written without encryption headers are stored unencrypted.",
        remediation_cli="aws s3api put-bucket-encryption --bucket BUCKET "
        '--server-side-encryption-configuration \'{"Rules":[{"ApplyServerSideEncryption'
        'ByDefault":{"SSEAlgorithm":"aws:kms"}}]}\'',
        remediation_console="S3 > Buckets > BUCKET > Properties > Default encryption > Edit > "
        "SSE-KMS (or SSE-S3) > Save changes.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        if isinstance(b.encryption, Unavailable):
            yield self.gap(snapshot, b, b.encryption)
        elif b.encryption:
            yield self.on(
                snapshot, b, "PASS", f"{b.name}: default encryption {', '.join(b.encryption)}"
            )
        else:
            yield self.on(snapshot, b, "FAIL", f"{b.name}: no default encryption")


class S3BucketAccessLoggingCheck(BucketCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="s3_bucket_access_logging",
        finding_type="Policy:S3/BucketAccessLoggingDisabled",
        severity=LOW,
        service="S3",
        title="Buckets have server access logging",
        risk="Without access logs, reads and writes that CloudTrail data events do not "
        "cover leave no record.",
        remediation_cli="aws s3api put-bucket-logging --bucket BUCKET --bucket-logging-status "
        '\'{"LoggingEnabled":{"TargetBucket":"LOG_BUCKET","TargetPrefix":"BUCKET/"}}\'',
        remediation_console="S3 > Buckets > BUCKET > Properties > Server access logging > "
        "Edit > Enable > choose the destination bucket > Save changes.",
        needs=frozenset({"s3", "s3control"}),
    )

    def bucket(self, snapshot: AccountSnapshot, b: Bucket) -> Iterator[CheckResult]:
        if isinstance(b.logging_target, Unavailable):
            yield self.gap(snapshot, b, b.logging_target)
        elif b.logging_target:
            yield self.on(snapshot, b, "PASS", f"{b.name}: access logs go to {b.logging_target}")
        else:
            yield self.on(snapshot, b, "FAIL", f"{b.name}: server access logging is off")


CHECKS: Final[tuple[Check, ...]] = (
    S3BucketVersioningCheck(),
    S3BucketMfaDeleteCheck(),
    S3BucketUndeleteWindowCheck(),
    S3KeepForeverNoExpiryCheck(),
    S3AccountPublicAccessBlockCheck(),
    S3BucketPublicAccessBlockCheck(),
    S3BucketPublicGrantCheck(),
    S3BucketDefaultEncryptionCheck(),
    S3BucketAccessLoggingCheck(),
)
