"""Verifying a bucket (or a local copy): find the chains, walk each from its newest digest
along the signed previous-digest links, check every digest and the log files it lists,
then account for what no digest vouches for.

The walk agrees with ``aws cloudtrail validate-logs`` file for file where the CLI is right,
and closes what it misses (see docs/verify.md): links are compared with the actual
previous digest, extra gzip members and stripped trailers are reported, the signature's
hash algorithm must be SHA-256, keys may be PKCS#1 or SubjectPublicKeyInfo, log files
in the log prefix that no valid digest names are reported (*unverified* or *unlisted*),
gaps and missing newest digests make the run fail, and a missing object that S3 reports
as AccessDenied is a per-file result.
"""

from __future__ import annotations

import binascii
import bisect
import contextlib
import multiprocessing
import multiprocessing.context
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from trailguard.errors import SourceError
from trailguard.integrity.digest import (
    SIGNATURE_ALGORITHM,
    Digest,
    InvalidDigestError,
    LogEntry,
    parse_digest,
)
from trailguard.integrity.gzipped import (
    FileError,
    Gunzipped,
    gunzip_digest,
    hash_chunks,
    hash_files,
)
from trailguard.integrity.keys import KeyLoadError, KeyRing, Verdict, check_signature, load_rsa_key
from trailguard.integrity.layout import (
    ACCOUNT_ID,
    ORG_ID,
    Chain,
    DigestKey,
    TrailArn,
    parse_digest_key,
    parse_log_key,
)
from trailguard.integrity.reader import (
    BucketReader,
    LocalReader,
    ObjectMissingError,
    ObjectUnreadableError,
)
from trailguard.integrity.results import FileResult, Reason, Report, SpanKind, SpanResult, Status
from trailguard.integrity.times import HOUR, day_folder, floor_hour, fmt_z, parse_z

DEFAULT_DELAY: Final = timedelta(hours=2)
_LIST_MARGIN: Final = timedelta(days=2)
_DAY: Final = timedelta(days=1)
_DATE_FOLDER: Final = re.compile(r"(\d{4})/(\d{2})/(\d{2})/")
_NEXT_DIGEST_DELIVERED: Final = timedelta(minutes=30)
_STOP_TOLERANCE: Final = timedelta(hours=1, minutes=5)


@dataclass(frozen=True, slots=True)
class TrailStatus:
    """What ``GetTrailStatus`` says, as far as the verdict on missing digests needs it."""

    is_logging: bool | None
    stop_logging: datetime | None
    latest_digest: datetime | None


StatusLookup = Callable[[Chain], "TrailStatus | None"]


@dataclass(frozen=True, slots=True)
class Options:
    now: datetime
    prefix: str = ""  # the trails' S3 key prefix, with a trailing "/" (or "")
    start: datetime | None = None
    end: datetime | None = None
    delay: timedelta = DEFAULT_DELAY
    trail: TrailArn | None = None
    accounts: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    workers: int = 2

    @property
    def window_end(self) -> datetime:
        return min(self.end, self.now) if self.end is not None else self.now


@dataclass(slots=True)
class _Checked:
    """One digest as checked: its result, and what the chain walk needs of it."""

    result: FileResult
    digest: Digest | None = None
    signature: str | None = None
    authentic: bool = False  # the signature verified: its contents are CloudTrail's


@dataclass(slots=True)
class _ChainKeys:
    standard: list[DigestKey] = field(default_factory=list)
    backfill: list[DigestKey] = field(default_factory=list)


@dataclass(slots=True)
class _LogDir:
    """A folder of log files (one account, one region) and what the digests said of it."""

    prefix: str
    chains: list[Chain] = field(default_factory=list)
    named: set[str] = field(default_factory=set)  # keys named by authentic digests
    named_by_invalid: dict[str, str] = field(default_factory=dict)  # key -> digest location
    covered: list[tuple[datetime, datetime]] = field(default_factory=list)
    shared_with_unchecked_trail: bool = False


class Verifier:
    """One run over one bucket (or local copy)."""

    def __init__(
        self,
        reader: BucketReader,
        keys: KeyRing,
        options: Options,
        trail_status: StatusLookup | None = None,
    ) -> None:
        self.reader = reader
        self.keys = keys
        self.opt = options
        self.trail_status = trail_status
        self.report = Report(options.start, options.window_end)
        self._pool: ThreadPoolExecutor | None = None
        self._seen_logs: set[tuple[str, str, str]] = set()
        self._procs: ProcessPoolExecutor | None = None
        self._dirs: dict[str, _LogDir] = {}

    # --- discovery --------------------------------------------------------------------

    def _bases(self) -> Iterator[tuple[str, str]]:
        """(org, account) of every account folder under the prefix, filtered."""
        root = f"{self.opt.prefix}AWSLogs/"
        for folder in self.reader.list_dirs(root):
            name = folder[len(root) : -1]
            pairs: list[tuple[str, str]] = []
            if ACCOUNT_ID.fullmatch(name):
                pairs.append(("", name))
            elif ORG_ID.fullmatch(name):
                for sub in self.reader.list_dirs(folder):
                    account = sub[len(folder) : -1]
                    if ACCOUNT_ID.fullmatch(account):
                        pairs.append((name, account))
            for org, account in pairs:
                if not self.opt.accounts or account in self.opt.accounts:
                    yield org, account

    def _wants(self, chain: Chain) -> bool:
        t = self.opt.trail
        if t is None:
            return True
        return (
            chain.trail == t.name
            and chain.home_region == t.region
            and (bool(chain.org) or chain.account == t.account)
        )

    def _ranged_keys(self, folder: str, start: datetime | None, end: datetime) -> Iterator[str]:
        """Keys under a ``<region>/YYYY/MM/DD/`` folder, from two days before ``start`` to
        two days after ``end`` (by date folder)."""
        after = f"{folder}{day_folder(start - _LIST_MARGIN)}" if start is not None else ""
        last = day_folder(end + _LIST_MARGIN)
        for key in self.reader.list_keys(folder, after):
            if key[len(folder) : len(folder) + 10] > last:
                return
            yield key

    def discover(self) -> dict[Chain, _ChainKeys]:
        """The chains under the prefix (filtered), with their digest keys in the window."""
        chains: dict[Chain, _ChainKeys] = {}
        regions = self.opt.regions
        for org, account in self._bases():
            base = f"{self.opt.prefix}AWSLogs/{org + '/' if org else ''}{account}/"
            digest_root, log_root = f"{base}CloudTrail-Digest/", f"{base}CloudTrail/"
            for folder in self.reader.list_dirs(digest_root):
                region = folder[len(digest_root) : -1]
                if regions and region not in regions:
                    continue
                log_dir = self._dir(f"{log_root}{region}/")
                for key in self._ranged_keys(folder, self.opt.start, self.opt.window_end):
                    dk = parse_digest_key(key)
                    if dk is None or dk.chain.base != base or dk.chain.region != region:
                        continue
                    if not self._wants(dk.chain):
                        log_dir.shared_with_unchecked_trail = True
                        continue
                    ck = chains.setdefault(dk.chain, _ChainKeys())
                    (ck.backfill if dk.backfill else ck.standard).append(dk)
                    if dk.chain not in log_dir.chains:
                        log_dir.chains.append(dk.chain)
            for folder in self.reader.list_dirs(log_root):
                region = folder[len(log_root) : -1]
                if not regions or region in regions:
                    self._dir(folder)
        for ck in chains.values():
            ck.standard.sort(key=lambda k: (k.end, k.key))
            ck.backfill.sort(key=lambda k: (k.end, k.key))
        return dict(sorted(chains.items()))

    def log_keys(self) -> Iterator[str]:
        """Log file keys in the window, of every log folder :meth:`discover` found."""
        for prefix in sorted(self._dirs):
            if self._dirs[prefix].shared_with_unchecked_trail and self.opt.trail:
                continue
            yield from self._ranged_keys(prefix, self.opt.start, self.opt.window_end)

    def _dir(self, prefix: str) -> _LogDir:
        found = self._dirs.get(prefix)
        if found is None:
            found = self._dirs[prefix] = _LogDir(prefix)
        return found

    # --- one digest ---------------------------------------------------------------------

    def _check_digest(
        self, chain: Chain, bucket: str, key: str, backfill: bool, when: datetime | None
    ) -> _Checked:
        loc = self.reader.display(bucket, key)
        res = FileResult("digest", bucket, key, loc, Status.VALID, backfill=backfill, chain=chain)
        res.time = when
        out = _Checked(res)

        def fail(reason: Reason, detail: str = "", status: Status = Status.INVALID) -> _Checked:
            res.status, res.reason, res.detail = status, reason, detail
            return out

        try:
            blob = self.reader.get(bucket, key)
        except ObjectMissingError as exc:
            return fail(Reason.NOT_FOUND, exc.detail)
        except ObjectUnreadableError as exc:
            return fail(Reason.READ_ERROR, str(exc), Status.UNREADABLE)
        gz, data = gunzip_digest(blob.data)
        if not gz.complete:
            return fail(Reason.INVALID_FORMAT, gz.error or "gzip stream cut short")
        try:
            digest = parse_digest(data, gz.sha256)
        except InvalidDigestError as exc:
            return fail(Reason.INVALID_FORMAT, exc.reason)
        out.digest = digest
        res.time = digest.end
        if blob.metadata_error:
            return fail(Reason.INVALID_FORMAT, blob.metadata_error)
        signature = blob.metadata.get("signature")
        algorithm = blob.metadata.get("signature-algorithm")
        out.signature = signature
        if signature is None or algorithm is None:
            absent = "signature" if signature is None else "signature-algorithm"
            return fail(Reason.SIGNATURE_MISSING, f"no x-amz-meta-{absent} metadata")
        generated = None
        if backfill:
            generated = parse_z(blob.metadata.get("backfill-generation-timestamp"))
            if generated is None:
                return fail(
                    Reason.INVALID_FORMAT,
                    "no valid x-amz-meta-backfill-generation-timestamp metadata",
                )
        fetched_bucket_ok = self.reader.bucket is None or digest.bucket == bucket
        if digest.key != key or not fetched_bucket_ok:
            return fail(Reason.MOVED, f"it names s3://{digest.bucket}/{digest.key}")
        try:
            key_found = self.keys.find(digest.fingerprint, chain.region, generated or digest.end)
        except SourceError as exc:
            return fail(Reason.READ_ERROR, str(exc), Status.UNREADABLE)
        if key_found is None:
            return fail(
                Reason.UNKNOWN_PUBLIC_KEY,
                f"region {chain.region}, fingerprint {digest.fingerprint}",
            )
        try:
            public_key = load_rsa_key(key_found.der)
        except KeyLoadError as exc:
            return fail(Reason.INVALID_PUBLIC_KEY, f"fingerprint {digest.fingerprint}: {exc}")
        try:
            raw_signature = binascii.unhexlify(signature)
        except (binascii.Error, ValueError):
            return fail(Reason.SIGNATURE_FAILURE, "the signature is not hexadecimal")
        verdict, weak_hash = check_signature(public_key, raw_signature, digest.data_to_sign())
        if verdict is Verdict.BAD:
            return fail(Reason.SIGNATURE_FAILURE)
        out.authentic = True
        problems: list[tuple[Reason, str]] = []
        if verdict is Verdict.WEAK:
            problems.append(
                (Reason.WEAK_SIGNATURE_ALGORITHM, f"signed with {weak_hash}, not SHA-256")
            )
        for label, value in (
            ("x-amz-meta-signature-algorithm", algorithm),
            ("digestSignatureAlgorithm", digest.algorithm),
        ):
            if value != SIGNATURE_ALGORITHM:
                problems.append(
                    (Reason.WEAK_SIGNATURE_ALGORITHM, f"{label} is {value!r}, not SHA256withRSA")
                )
        if gz.extra:
            problems.append((Reason.EXTRA_DATA, gz.describe_extra()))
        named = parse_digest_key(key)
        if named is not None and named.end != digest.end:
            problems.append((Reason.INVALID_FORMAT, "digestEndTime does not match the key"))
        if digest.log_files_error:
            problems.append((Reason.INVALID_FORMAT, digest.log_files_error))
        if problems:
            fail(problems[0][0], "; ".join(d for _, d in problems))
        return out

    # --- log files --------------------------------------------------------------------

    def _log_result(self, entry: LogEntry, digest_location: str, chain: Chain) -> FileResult:
        lk = parse_log_key(entry.key)
        loc = self.reader.display(entry.bucket, entry.key)
        res = FileResult("log", entry.bucket, entry.key, loc, Status.VALID, chain=chain)
        res.digest, res.time = digest_location, lk.time if lk else None
        return res

    def _check_log(self, entry: LogEntry, digest_location: str, chain: Chain) -> FileResult:
        """Read and hash one log file through the reader (S3, or one thread's share)."""
        try:
            gz: Gunzipped | FileError = hash_chunks(self.reader.chunks(entry.bucket, entry.key))
        except ObjectMissingError as exc:
            gz = ("missing", exc.detail)
        except ObjectUnreadableError as exc:
            gz = ("unreadable", str(exc))
        return _log_verdict(self._log_result(entry, digest_location, chain), entry, gz)

    def _submit_logs(self, checked: _Checked, chain: Chain) -> list[_Pending]:
        """Start checking a digest's log files: one batch per digest, in worker processes
        for a local copy (hashing many small files is GIL-bound in threads), on threads
        for S3 (network-bound)."""
        assert checked.digest is not None
        entries = []
        for entry in checked.digest.log_files:
            seen = (entry.bucket, entry.key, entry.hash_value)
            if seen not in self._seen_logs:
                self._seen_logs.add(seen)
                entries.append(entry)
        if not entries:
            return []
        loc = checked.result.location
        if isinstance(self.reader, LocalReader):
            paths: list[str] = []
            unsafe: dict[int, str] = {}  # keys that name no file of this copy: not found
            for i, entry in enumerate(entries):
                try:
                    paths.append(self.reader.local_path(entry.bucket, entry.key))
                except ObjectMissingError as exc:
                    paths.append(os.devnull)
                    unsafe[i] = exc.detail
            if self._procs is None:
                done = hash_files(paths)

                def ready() -> list[Gunzipped | FileError]:
                    return done

                result: Callable[[], list[Gunzipped | FileError]] = ready
            else:
                result = self._procs.submit(hash_files, paths).result

            def finish() -> list[FileResult]:
                out = []
                try:
                    hashed = result()
                except BrokenProcessPool:  # a worker died (killed, out of memory): do it here
                    hashed = hash_files(paths)
                for i, (entry, gz) in enumerate(zip(entries, hashed, strict=True)):
                    found: Gunzipped | FileError = ("missing", unsafe[i]) if i in unsafe else gz
                    res = self._log_result(entry, loc, chain)
                    out.append(_log_verdict(res, entry, found))
                return out

            return [finish]
        if self._pool is None:
            results = [self._check_log(e, loc, chain) for e in entries]
            return [lambda: results]
        futs = [self._pool.submit(self._check_log, e, loc, chain) for e in entries]
        return [lambda: [f.result() for f in futs]]

    def _note_contents(self, checked: _Checked, chain: Chain) -> None:
        """Remember which log files a digest names, for the log-prefix pass."""
        d = checked.digest
        if d is None:
            return
        log_dir = self._dir(chain.log_dir)
        same_bucket = self.reader.bucket is None or d.bucket == self.reader.bucket
        for entry in d.log_files:
            if self.reader.bucket is not None and entry.bucket != self.reader.bucket:
                continue
            if checked.authentic:
                log_dir.named.add(entry.key)
            else:
                log_dir.named_by_invalid.setdefault(entry.key, checked.result.location)
        if checked.authentic and same_bucket:
            log_dir.covered.append((d.start, d.end))

    # --- the walk -----------------------------------------------------------------------

    def _walk(
        self, chain: Chain, keys: list[DigestKey], context: list[DigestKey]
    ) -> list[tuple[_Checked, list[_Pending]]]:
        start, bucket = self.opt.start, self.reader.bucket or ""
        remaining = list(keys)
        visited: set[str] = set()
        done: list[tuple[_Checked, list[_Pending]]] = []

        def newest_before(when: datetime) -> DigestKey | None:
            while remaining and remaining[-1].end >= when:
                remaining.pop()
            return remaining.pop() if remaining else None

        first = remaining.pop() if remaining else None
        current: tuple[str, str, datetime | None] | None = (
            (bucket, first.key, first.end) if first else None
        )
        boundary = first.end if first else None
        newer: _Checked | None = None
        while current is not None and boundary is not None and (start is None or start <= boundary):
            cur_bucket, cur_key, cur_end = current
            parsed = parse_digest_key(cur_key)
            stamp = parsed.end if parsed else cur_end
            checked = self._check_digest(chain, cur_bucket, cur_key, False, stamp)
            visited.add(cur_key)
            if newer is not None:
                self._check_link(newer, checked)
            self._note_contents(checked, chain)
            futures = self._submit_logs(checked, chain) if checked.authentic else []
            done.append((checked, futures))
            digest = checked.digest
            if not checked.authentic or digest is None:
                nxt = newest_before(stamp) if stamp is not None else None
                current = (bucket, nxt.key, nxt.end) if nxt else None
                newer = None
                continue
            boundary = digest.start
            if digest.is_start:
                nxt = newest_before(stamp or digest.end)
                if nxt is not None:
                    self._gap(chain, nxt.end, digest.start, digest)
                elif start is not None and digest.start > start:
                    older = [k.end for k in context if k.end < digest.start]
                    self._gap(chain, max([start, *older]), digest.start, digest)
                current = (bucket, nxt.key, nxt.end) if nxt else None
                newer = None
            else:
                assert digest.prev_bucket is not None and digest.prev_key is not None
                remaining = [k for k in remaining if k.key != digest.prev_key]
                current = (digest.prev_bucket, digest.prev_key, None)
                newer = checked
        # digests in the window that the walk skipped: not on the chain
        for dk in keys:
            if dk.key in visited:
                continue
            checked = self._check_digest(chain, bucket, dk.key, False, dk.end)
            if checked.result.status is Status.VALID:
                r = checked.result
                r.status, r.reason = Status.INVALID, Reason.BROKEN_CHAIN_LINK
                r.detail = "no digest of the chain links to it"
            self._note_contents(checked, chain)
            futures = self._submit_logs(checked, chain) if checked.authentic else []
            done.append((checked, futures))
        return done

    def _check_link(self, newer: _Checked, older: _Checked) -> None:
        """Compare what a digest says of its previous digest with that digest."""
        nd, od = newer.digest, older.digest
        if nd is None or od is None or not older.authentic:
            return
        wrong = []
        if nd.prev_signature != older.signature:
            wrong.append("previousDigestSignature is not the previous digest's signature")
        if nd.prev_hash != od.sha256:
            wrong.append("previousDigestHashValue is not the previous digest's SHA-256")
        if od.end > nd.start:
            wrong.append("the previous digest ends after this one starts")
        if not wrong:
            return
        r = newer.result
        detail = f"{'; '.join(wrong)} ({older.result.location})"
        if r.status is Status.VALID:
            r.status, r.reason, r.detail = Status.INVALID, Reason.BROKEN_CHAIN_LINK, detail
        else:
            r.detail = f"{r.detail}; {detail}" if r.detail else detail

    def _gap(self, chain: Chain, start: datetime, end: datetime, digest: Digest) -> None:
        if end <= start:
            return
        self.report.spans.append(
            SpanResult(
                SpanKind.GAP,
                chain,
                start,
                end,
                f"no digests: the chain restarts at {fmt_z(digest.start)} (logging or log "
                "file validation was off)",
            )
        )

    def _missing_newest(self, chain: Chain, ck: _ChainKeys) -> None:
        required = floor_hour(min(self.opt.window_end, self.opt.now - self.opt.delay))
        if self.opt.start is not None and required <= self.opt.start:
            return
        newest = ck.standard[-1].end if ck.standard else None
        if newest is not None and newest >= required:
            return
        since = newest or self.opt.start
        if since is None:
            return
        status = self.trail_status(chain) if self.trail_status is not None else None
        kind, detail = (
            SpanKind.DIGESTS_MISSING,
            (f"no digest after {fmt_z(since)}, though digests were due until {fmt_z(required)}"),
        )
        if status is not None:
            stop, latest = status.stop_logging, status.latest_digest
            if status.is_logging is False and stop is not None:
                if newest is not None and stop <= newest + _STOP_TOLERANCE:
                    kind, detail = SpanKind.LOGGING_STOPPED, f"logging was stopped at {fmt_z(stop)}"
                else:
                    detail = (
                        f"logging was stopped at {fmt_z(stop)}, but the digests after "
                        f"{fmt_z(since)} are gone"
                    )
            elif latest is not None and latest > since + _NEXT_DIGEST_DELIVERED:
                detail = (
                    f"CloudTrail delivered digests until {fmt_z(latest)}: the digests after "
                    f"{fmt_z(since)} are gone"
                )
            elif status.is_logging:
                detail += " (the trail is logging)"
        self.report.spans.append(SpanResult(kind, chain, since, required, detail))

    # --- log files no valid digest names ------------------------------------------------

    def _log_prefix_pass(self, window_start: datetime | None) -> list[FileResult]:
        out: list[FileResult] = []
        end = self.opt.window_end
        pending_after = self.opt.now - self.opt.delay
        for log_dir in sorted(self._dirs.values(), key=lambda d: d.prefix):
            if log_dir.shared_with_unchecked_trail:
                self.report.notes.append(
                    f"{log_dir.prefix}: other trails' digests share this folder and were not "
                    "checked, so log files no checked digest names are not reported"
                )
                continue
            spans = _merge(log_dir.covered)
            starts = [s for s, _ in spans]
            chain = log_dir.chains[0] if log_dir.chains else self._pseudo_chain(log_dir.prefix)
            present: set[str] = set()
            for key in self._ranged_keys(log_dir.prefix, window_start, end):
                present.add(key)
                if key in log_dir.named:
                    continue
                lk = parse_log_key(key)
                if lk is None:
                    # not a log file name for this folder (another account or region in the
                    # name, other characters, any other file): CloudTrail never writes one,
                    # and log readers may still take it in, so it is reported, not skipped
                    if key.endswith("/") or _day_outside(key, log_dir.prefix, window_start, end):
                        continue  # an S3 "folder" marker; or another window's date folder
                elif (window_start is not None and lk.time < window_start) or lk.time > end:
                    continue
                loc = self.reader.display(self.reader.bucket or "", key)
                res = FileResult("log", self.reader.bucket or "", key, loc, Status.PENDING)
                res.chain, res.time = chain, lk.time if lk is not None else None
                by_invalid = log_dir.named_by_invalid.get(key)
                if by_invalid is not None:
                    res.status, res.reason = Status.UNVERIFIED, Reason.DIGEST_MISSING_OR_INVALID
                    res.detail, res.digest = f"listed by INVALID digest {by_invalid}", by_invalid
                elif lk is None:
                    res.status, res.reason = Status.UNLISTED, Reason.NOT_A_LOG_FILE_NAME
                elif lk.time >= pending_after:
                    res.detail = "newer than the delivery delay"
                elif _covers(spans, starts, lk.time):
                    res.status, res.reason = Status.UNLISTED, Reason.NOT_IN_ANY_DIGEST
                else:
                    res.status, res.reason = Status.UNVERIFIED, Reason.DIGEST_MISSING_OR_INVALID
                    res.detail = f"no valid digest covers {fmt_z(lk.time)}"
                out.append(res)
            for key, by in sorted(log_dir.named_by_invalid.items()):
                if key in present or key in log_dir.named:
                    continue
                loc = self.reader.display(self.reader.bucket or "", key)
                res = FileResult("log", self.reader.bucket or "", key, loc, Status.UNVERIFIED)
                res.reason, res.chain, res.digest = Reason.DIGEST_MISSING_OR_INVALID, chain, by
                res.detail = f"listed by INVALID digest {by}; not found either"
                out.append(res)
        return out

    def _pseudo_chain(self, log_prefix: str) -> Chain:
        """A label for a log folder that no digest of any checked trail covers."""
        head, _, region = log_prefix.rstrip("/").rpartition("/CloudTrail/")
        base = head.split("AWSLogs/", 1)
        parts = base[1].split("/") if len(base) == 2 else ["?"]
        t = self.opt.trail
        return Chain(
            prefix=base[0],
            org=parts[0] if len(parts) == 2 else "",
            account=parts[-1],
            region=region,
            trail=t.name if t else "(no digests)",
            home_region=t.region if t else "?",
        )

    # --- the run ------------------------------------------------------------------------

    def run(self) -> Report:
        rep = self.report
        chains = self.discover()
        rep.chains = list(chains)
        end_limit = self.opt.window_end + HOUR
        start = self.opt.start
        for chain, ck in chains.items():
            in_window = [k for k in ck.standard if (start is None or k.end >= start)]
            in_window = [k for k in in_window if k.end <= end_limit]
            if in_window:
                self.keys.prefetch(chain.region, in_window[0].end - HOUR, in_window[-1].end)
        with contextlib.ExitStack() as stack:
            if self.opt.workers > 1:
                if isinstance(self.reader, LocalReader):
                    self._procs = stack.enter_context(
                        ProcessPoolExecutor(self.opt.workers, mp_context=_mp_context())
                    )
                else:
                    self._pool = stack.enter_context(ThreadPoolExecutor(self.opt.workers * 4))
            window_start = start
            for chain, ck in chains.items():
                in_window = [
                    k
                    for k in ck.standard
                    if (start is None or k.end >= start) and k.end <= end_limit
                ]
                backfills = [
                    k
                    for k in ck.backfill
                    if (start is None or k.end >= start) and k.end <= end_limit
                ]
                done = self._walk(chain, in_window, ck.standard)
                for dk in backfills:
                    checked = self._check_digest(
                        chain, self.reader.bucket or "", dk.key, True, dk.end
                    )
                    self._note_contents(checked, chain)
                    futures = self._submit_logs(checked, chain) if checked.authentic else []
                    done.append((checked, futures))
                for checked, pending in done:
                    rep.files.append(checked.result)
                    for finish in pending:
                        rep.files.extend(finish())
                    d = checked.digest
                    if start is None and checked.authentic and d is not None:
                        window_start = (
                            d.start if window_start is None else min(window_start, d.start)
                        )
                self._missing_newest(chain, ck)
            for log_dir in self._dirs.values():
                if not log_dir.chains and not log_dir.shared_with_unchecked_trail:
                    self._no_digests(log_dir, window_start)
            rep.files.extend(self._log_prefix_pass(window_start))
        self._pool = self._procs = None
        rep.errors.extend(self.keys.errors)
        return rep

    def _no_digests(self, log_dir: _LogDir, window_start: datetime | None) -> None:
        """A log folder with no digests at all: every hour of the window is uncovered."""
        required = floor_hour(min(self.opt.window_end, self.opt.now - self.opt.delay))
        keys = self._ranged_keys(log_dir.prefix, window_start, required)
        lk = next((k for k in map(parse_log_key, keys) if k is not None), None)
        since = window_start or (lk.time if lk else None)
        if since is None or since >= required:
            return
        chain = self._pseudo_chain(log_dir.prefix)
        self.report.spans.append(
            SpanResult(
                SpanKind.DIGESTS_MISSING,
                chain,
                since,
                required,
                "log files but no digests at all in this account and region",
            )
        )


_Pending = Callable[[], list[FileResult]]


def _day_outside(key: str, folder: str, start: datetime | None, end: datetime) -> bool:
    """Whether ``key`` lies in a ``YYYY/MM/DD/`` date folder wholly outside [start, end]
    (a key in no valid date folder is not outside)."""
    m = _DATE_FOLDER.match(key, len(folder))
    if m is None:
        return False
    try:
        day = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
    except ValueError:
        return False
    return day > end or (start is not None and day + _DAY <= start)


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork when this process runs no other thread (cheap: ~30 ms for two workers, which
    need only the small gzip module); otherwise forkserver, since forking a process that
    runs threads (boto3's, a test server's) is unsafe."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _log_verdict(res: FileResult, entry: LogEntry, gz: Gunzipped | FileError) -> FileResult:
    """A log file's verdict from what hashing it found (the CLI's, where it is right)."""
    if isinstance(gz, tuple):
        kind, text = gz
        if kind == "missing":
            res.status, res.reason, res.detail = Status.INVALID, Reason.NOT_FOUND, text
        else:
            res.status, res.reason, res.detail = Status.UNREADABLE, Reason.READ_ERROR, text
        return res
    reason, detail = None, ""
    if gz.error is not None:
        reason, detail = Reason.INVALID_FORMAT, gz.error
    elif gz.sha256 != entry.hash_value:
        reason = Reason.HASH_MISMATCH
        if gz.compressed == 0:
            detail = "empty object"
        elif gz.truncated:
            detail = "gzip stream cut short"
    elif gz.truncated:
        reason, detail = Reason.INVALID_FORMAT, "gzip trailer (CRC and length) missing"
    elif gz.extra:
        reason, detail = Reason.EXTRA_DATA, gz.describe_extra()
    if reason is not None:
        res.status, res.reason, res.detail = Status.INVALID, reason, detail
    return res


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _covers(spans: list[tuple[datetime, datetime]], starts: list[datetime], when: datetime) -> bool:
    i = bisect.bisect_right(starts, when) - 1
    return i >= 0 and spans[i][0] <= when <= spans[i][1]
