"""``trailguard verify``: CloudTrail log-file integrity validation, on S3 or a local copy.

Exit statuses (documented in docs/verify.md):

* 0 - everything in the window verified: every digest and log file valid, no gap, no
  missing digest, no log file that no valid digest vouches for;
* 1 - trailguard itself failed (for example the findings store, with ``--record``);
* 2 - usage or configuration error (bad option, time, key file or source);
* 3 - an integrity failure: an INVALID digest or log file, an *unverified* or *unlisted*
  log file, a gap, missing newest digests, or no digests found at all;
* 4 - nothing failed, but something could not be read (a listing, an object, the keys).

3 wins over 4 when both apply.  With ``--mirror``: 0 when everything was copied, 4 if
some objects could not be.

Heavy imports stay inside the command function, so ``trailguard --help`` starts quickly.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from trailguard.integrity.keys import KeyRing
    from trailguard.integrity.layout import Chain
    from trailguard.integrity.reader import BucketReader
    from trailguard.integrity.verifier import Options, TrailStatus

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_UNREADABLE = 4


def _time(value: str | None, name: str) -> datetime | None:
    from trailguard.integrity.times import parse_user_time

    if value is None:
        return None
    try:
        return parse_user_time(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from None


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def split_prefix(prefix: str) -> tuple[str, list[str]]:
    """The trails' key prefix (with its trailing ``/``) and any account named after
    ``AWSLogs/`` in a source like ``s3://bucket/prefix/AWSLogs/111122223333/``."""
    parts = [p for p in prefix.split("/") if p]
    if "AWSLogs" in parts:
        i = parts.index("AWSLogs")
        head, rest = parts[:i], parts[i + 1 :]
        accounts = [p for p in rest[:2] if p.isdigit() and len(p) == 12]
        return ("/".join(head) + "/" if head else ""), accounts[:1]
    return ("/".join(parts) + "/" if parts else ""), []


def _local_prefix(root: Path, given: str | None) -> str:
    if given is not None:
        return given
    if (root / "AWSLogs").is_dir():
        return ""
    for depth in ("*", "*/*", "*/*/*"):
        found = sorted(p for p in root.glob(f"{depth}/AWSLogs") if p.is_dir())
        if found:
            return found[0].parent.relative_to(root).as_posix() + "/"
    return ""


def _cloudtrail_clients(endpoint_url: str | None) -> Any:
    import boto3

    clients: dict[str, Any] = {}

    def client_for(region: str) -> Any:
        if region not in clients:
            clients[region] = boto3.client(
                "cloudtrail", region_name=region, endpoint_url=endpoint_url
            )
        return clients[region]

    return client_for


def trail_status_lookup(client_for: Any, trail_arn: str | None) -> Any:
    """GetTrailStatus for a chain's trail (the given ARN, or one built from the keys);
    None when CloudTrail cannot be asked."""
    from botocore.exceptions import BotoCoreError, ClientError

    from trailguard.integrity.verifier import TrailStatus

    cache: dict[str, TrailStatus | None] = {}

    def lookup(chain: Chain) -> TrailStatus | None:
        arn = trail_arn or chain.arn
        if arn not in cache:
            try:
                st = client_for(chain.home_region).get_trail_status(Name=arn)
            except (BotoCoreError, ClientError):
                cache[arn] = None
            else:
                cache[arn] = TrailStatus(
                    is_logging=st.get("IsLogging"),
                    stop_logging=_aware(st.get("StopLoggingTime")),
                    latest_digest=_aware(st.get("LatestDigestDeliveryTime")),
                )
        return cache[arn]

    return lookup


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def register(app: typer.Typer) -> None:
    """Add ``verify`` to ``app``."""

    @app.command()
    def verify(
        source: Annotated[
            str, typer.Argument(help="s3://bucket/prefix, or a local copy of the bucket.")
        ],
        dest: Annotated[
            Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
            typer.Argument(help="With --mirror: the folder to copy to."),
        ] = None,
        mirror: Annotated[
            bool,
            typer.Option(
                "--mirror",
                help="Copy the logs, digests (with .meta.json sidecars) and public keys of "
                "s3://... to DEST for offline verification, instead of verifying.",
            ),
        ] = False,
        trail_arn: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--trail-arn", help="Only this trail (default: every trail found)."),
        ] = None,
        start_time: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--start-time",
                help="Window start, ISO 8601 with any UTC offset (default: the oldest digest).",
            ),
        ] = None,
        end_time: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--end-time", help="Window end, ISO 8601 (default: now)."),
        ] = None,
        public_keys: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(
                "--public-keys",
                help="JSON file in ListPublicKeys' shape (default for S3: ask CloudTrail; "
                "for a mirrored copy: its public-keys.json).",
            ),
        ] = None,
        account_id: Annotated[
            Optional[list[str]],  # noqa: UP045
            typer.Option("--account-id", help="Only this account (repeatable)."),
        ] = None,
        region: Annotated[
            Optional[list[str]],  # noqa: UP045
            typer.Option("--region", help="Only this source region (repeatable)."),
        ] = None,
        bucket: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--bucket",
                help="For a local copy: the bucket it was copied from (default: from its "
                "mirror manifest; else digests' bucket names are not compared).",
            ),
        ] = None,
        delivery_delay: Annotated[
            float,
            typer.Option(
                "--delivery-delay",
                min=0,
                help="Hours before now when digests must exist (default 2).",
            ),
        ] = 2.0,
        now_text: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--now", help="Check as of this ISO 8601 time (default: now)."),
        ] = None,
        output_format: Annotated[
            str, typer.Option("--format", help="text, or json (JSON lines).")
        ] = "text",
        verbose: Annotated[
            bool, typer.Option("--verbose", "-v", help="Also list valid and pending files.")
        ] = False,
        record: Annotated[
            bool, typer.Option("--record", help="Record integrity failures as findings.")
        ] = False,
        db: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--db", help="Store for --record (default: as for other commands)."),
        ] = None,
        endpoint_url: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--endpoint-url", help="S3 endpoint URL."),
        ] = None,
        trail_status: Annotated[
            bool,
            typer.Option(
                "--trail-status/--no-trail-status",
                help="Ask CloudTrail's GetTrailStatus why digests stop (S3 sources only).",
            ),
        ] = True,
        workers: Annotated[
            Optional[int],  # noqa: UP045
            typer.Option("--workers", min=1, help="Hashing threads (default: one per CPU)."),
        ] = None,
    ) -> None:
        """Verify CloudTrail digests and log files (hashes, signatures, chain, gaps)."""
        from trailguard import settings
        from trailguard.errors import ConfigError, SourceError, TrailguardError
        from trailguard.integrity.keys import KeyRing, cloudtrail_fetcher, load_key_file
        from trailguard.integrity.layout import REGION, parse_trail_arn
        from trailguard.integrity.mirror import KEY_FILE, read_manifest
        from trailguard.integrity.verifier import Options

        if output_format not in ("text", "json"):
            raise typer.BadParameter("use text or json", param_hint="--format")
        start = _time(start_time, "--start-time")
        end = _time(end_time, "--end-time")
        now = _time(now_text, "--now") or datetime.now(UTC)
        if start is not None and end is not None and start > end:
            raise _fail("start-time must occur before end-time", EXIT_USAGE)
        arn = parse_trail_arn(trail_arn) if trail_arn else None
        if trail_arn and arn is None:
            raise _fail(f"invalid trail ARN: {trail_arn}", EXIT_USAGE)
        for r in region or []:
            if not REGION.fullmatch(r):
                raise _fail(f"not a region: {r!r}", EXIT_USAGE)
        try:
            cfg = settings.load_config()
            endpoint = settings.get("endpoint_url", endpoint_url, cfg)
            keys_given = load_key_file(public_keys) if public_keys else None
        except ConfigError as exc:
            raise _fail(str(exc), EXIT_USAGE) from exc

        is_s3 = source.startswith("s3://")
        accounts = list(account_id or [])
        client_for = _cloudtrail_clients(None)
        reader: BucketReader
        status_lookup = None
        if is_s3:
            import boto3

            from trailguard.integrity.reader import S3Reader
            from trailguard.sources.s3 import parse_s3_url

            try:
                bucket_name, raw_prefix = parse_s3_url(source)
            except SourceError as exc:
                raise _fail(str(exc), EXIT_USAGE) from exc
            prefix, more = split_prefix(raw_prefix)
            accounts.extend(more)
            reader = S3Reader(boto3.client("s3", endpoint_url=endpoint), bucket_name)
            if keys_given is not None:
                keys = KeyRing(keys_given)
            else:
                keys = KeyRing(fetch=cloudtrail_fetcher(client_for))
            if trail_status:
                status_lookup = trail_status_lookup(client_for, trail_arn)
        else:
            from trailguard.integrity.reader import LocalReader

            if mirror:
                raise _fail("--mirror copies from s3://bucket/prefix", EXIT_USAGE)
            root = Path(source)
            if not root.is_dir():
                raise _fail(f"{source}: not a folder (or s3://bucket/prefix)", EXIT_USAGE)
            manifest = read_manifest(root)
            prefix = _local_prefix(root, manifest.get("prefix"))
            reader = LocalReader(root, bucket or manifest.get("bucket"))
            if keys_given is None and (root / KEY_FILE).is_file():
                try:
                    keys_given = load_key_file(root / KEY_FILE)
                except ConfigError as exc:
                    raise _fail(str(exc), EXIT_USAGE) from exc
            keys = KeyRing(keys_given or [])
        options = Options(
            now=now,
            prefix=prefix,
            start=start,
            end=end,
            delay=timedelta(hours=delivery_delay),
            trail=arn,
            accounts=frozenset(accounts),
            regions=frozenset(region or []),
            workers=workers or os.cpu_count() or 1,
        )
        if mirror:
            if dest is None:
                raise _fail("--mirror needs a DEST folder", EXIT_USAGE)
            raise typer.Exit(_run_mirror(reader, keys, options, dest, now))
        try:
            code = _run_verify(
                reader, keys, options, status_lookup, source, output_format, verbose, record, db
            )
        except TrailguardError as exc:
            raise _fail(str(exc), EXIT_ERROR) from exc
        raise typer.Exit(code)


def _run_mirror(
    reader: BucketReader, keys: KeyRing, options: Options, dest: Path, now: datetime
) -> int:
    from trailguard.errors import SourceError
    from trailguard.integrity.mirror import mirror
    from trailguard.integrity.reader import S3Reader
    from trailguard.integrity.verifier import Verifier

    assert isinstance(reader, S3Reader)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        summary = mirror(Verifier(reader, keys, options), reader, dest, keys, now)
    except SourceError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_UNREADABLE
    except OSError as exc:
        sys.stderr.write(f"error: {dest}: {exc.strerror or exc}\n")
        return EXIT_ERROR
    for e in summary.errors:
        sys.stderr.write(f"could not copy: {e}\n")
    sys.stdout.write(
        f"Copied {summary.digests} digest files and {summary.logs} log files "
        f"({summary.bytes:,} bytes) and {summary.keys} public keys to {dest}\n"
    )
    return EXIT_UNREADABLE if summary.errors else EXIT_OK


def _run_verify(
    reader: BucketReader,
    keys: KeyRing,
    options: Options,
    status_lookup: Any,
    source: str,
    output_format: str,
    verbose: bool,
    record: bool,
    db: str | None,
) -> int:
    from trailguard.errors import ConfigError, SourceError
    from trailguard.integrity.report import write_json, write_text
    from trailguard.integrity.verifier import Verifier

    try:
        report = Verifier(reader, keys, options, status_lookup).run()
    except SourceError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_UNREADABLE
    if output_format == "json":
        write_json(report, source, sys.stdout.write)
    else:
        write_text(report, source, verbose, sys.stdout.write)
    if record:
        from trailguard import settings
        from trailguard.findings.model import to_ms
        from trailguard.findings.store import Store
        from trailguard.integrity.record import integrity_hits

        try:
            path = settings.resolve_db(db)
        except ConfigError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_USAGE
        store = Store.open(path)
        try:
            result = store.record_hits(integrity_hits(report, options.now), to_ms(options.now))
        finally:
            store.close()
        sys.stderr.write(
            f"recorded findings: {len(result.new)} new, {len(result.updated)} updated\n"
        )
    return report.exit_status()
