"""Verification against S3: a moto server on 127.0.0.1, with the signature metadata set on
the digest objects.  moto does not implement CloudTrail's ListPublicKeys, and its
GetTrailStatus cannot be told a stop time or a latest digest delivery time, so those two
calls go through botocore's Stubber with responses shaped as AWS documents them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from trailguard.integrity.keys import KeyRing, cloudtrail_fetcher
from trailguard.integrity.layout import Chain
from trailguard.integrity.mirror import mirror
from trailguard.integrity.reader import S3Reader
from trailguard.integrity.results import EXIT_FAILED, EXIT_OK, SpanKind
from trailguard.integrity.verifier import Options, TrailStatus, Verifier

H = timedelta(hours=1)


def now_after(kit: Any, hours: int) -> datetime:
    result: datetime = kit.T0 + (hours - 1) * H + timedelta(hours=2, minutes=30)
    return result


def many_chains(kit: Any, signer: Any) -> tuple[Any, list[Any]]:
    """One bucket: two accounts, a multi-region trail (two source regions), an
    organization trail for a member account, a second trail under a prefix."""
    bucket = kit.Bucket()
    trails = [
        kit.Trail(bucket, signer),
        kit.Trail(bucket, signer, region="eu-west-1", home="us-east-1", seed=2),
        kit.Trail(bucket, signer, account="444455556666", seed=3),
        kit.Trail(bucket, signer, account="777788889999", org="o-abcdefghij", trail="org", seed=4),
        kit.Trail(bucket, signer, prefix="other/", trail="second", seed=5),
    ]
    for t in trails:
        t.run(4)
    return bucket, trails


@pytest.mark.parametrize("page_size", [None, 1, 7])
def test_many_accounts_regions_and_pages(
    kit: Any, signer: Any, s3_client: Any, page_size: int | None
) -> None:
    bucket, _trails = many_chains(kit, signer)
    bucket.to_s3(s3_client)
    report = kit.verify_s3(
        s3_client, KeyRing([signer.public_key()]), now=now_after(kit, 4), page_size=page_size
    )
    v = kit.verdicts(report)
    # the prefixed trail is not under the (empty) prefix's AWSLogs/
    expected = {k for k in bucket.objects if not k.startswith("other/")}
    assert set(v) == expected
    assert set(v.values()) == {("valid", None)}
    assert {(c.account, c.region, c.org) for c in report.chains} == {
        ("111122223333", "us-east-1", ""),
        ("111122223333", "eu-west-1", ""),
        ("444455556666", "us-east-1", ""),
        ("777788889999", "us-east-1", "o-abcdefghij"),
    }
    assert report.exit_status() == EXIT_OK
    prefixed = kit.verify_s3(
        s3_client, KeyRing([signer.public_key()]), now=now_after(kit, 4), prefix="other/"
    )
    assert len(prefixed.files) == 4 + 8
    assert prefixed.exit_status() == EXIT_OK


def test_tampering_in_s3_matches_the_cli(kit: Any, signer: Any, s3_client: Any) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(5)
    logs = bucket.logs()
    bucket.objects[logs[0]].data = kit.gz(b'{"Records":[]}')
    del bucket.objects[logs[1]]
    gone = trail.keys[2]
    del bucket.objects[gone]
    bucket.to_s3(s3_client)
    report = kit.verify_s3(s3_client, KeyRing([signer.public_key()]), now=now_after(kit, 5))
    v = kit.verdicts(report)
    assert v[logs[0]] == ("INVALID", "hash-mismatch")
    assert v[logs[1]] == ("INVALID", "not-found")
    assert v[gone] == ("INVALID", "not-found")
    lines = {r.key: r.line() for r in report.files}
    assert (
        lines[logs[0]]
        == f"Log file\ts3://{kit.BUCKET}/{logs[0]}\tINVALID: hash value doesn't match"
    )
    assert lines[gone] == f"Digest file\ts3://{kit.BUCKET}/{gone}\tINVALID: not found"
    assert report.exit_status() == EXIT_FAILED


def test_access_denied_for_a_missing_object_is_a_result(
    kit: Any, signer: Any, s3_client: Any
) -> None:
    """Without s3:ListBucket, S3 answers AccessDenied for a missing key; the CLI aborts
    (section 7.10).  moto does not enforce permissions, so a before-call hook on the
    client answers as S3 would for the deleted objects; every other call reaches moto."""
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(4)
    gone_log, gone_digest = bucket.logs()[0], trail.keys[1]
    for k in (gone_log, gone_digest):
        del bucket.objects[k]
    bucket.to_s3(s3_client)

    def deny_missing(params: dict[str, Any], **_: Any) -> Any:
        # params is the serialised request: the key is at the end of its URL path
        if unquote(params.get("url_path", "")).endswith((gone_log, gone_digest)):
            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            parsed = {**error, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return AWSResponse(params.get("url"), 403, {}, None), parsed
        return None

    s3_client.meta.events.register("before-call.s3.GetObject", deny_missing)
    report = kit.verify_s3(s3_client, KeyRing([signer.public_key()]), now=now_after(kit, 4))
    v = kit.verdicts(report)
    assert v[gone_log] == ("INVALID", "not-found")
    assert v[gone_digest] == ("INVALID", "not-found")
    assert "AccessDenied" in next(r.detail for r in report.files if r.key == gone_log)
    assert report.exit_status() == EXIT_FAILED


def list_public_keys_response(signers: list[Any], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "PublicKeyList": [
            {
                "Value": s.der,  # a blob: botocore returns the decoded bytes
                "ValidityStartTime": datetime(2024, 3, 9, tzinfo=UTC),
                "ValidityEndTime": datetime(2024, 3, 20, tzinfo=UTC),
                "Fingerprint": s.fingerprint,
            }
            for s in signers
        ]
    }
    if token:
        page["NextToken"] = token
    return page


def test_keys_from_list_public_keys_with_pages_and_a_late_lookup(
    kit: Any, signer: Any, other_signer: Any, s3_client: Any
) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(3)
    rotated = trail.hour(kit.T0 + 3 * H, signer=other_signer)
    bucket.to_s3(s3_client)
    ct = boto3.client("cloudtrail", region_name="us-east-1")
    with Stubber(ct) as stub:
        # one call for the window (two pages), then one for the digest whose key is new
        stub.add_response(
            "list_public_keys",
            list_public_keys_response([signer], "page-2"),
            {"StartTime": kit.T0 - 3 * H, "EndTime": kit.T0 + 5 * H},
        )
        stub.add_response(
            "list_public_keys",
            list_public_keys_response([]),
            {"StartTime": kit.T0 - 3 * H, "EndTime": kit.T0 + 5 * H, "NextToken": "page-2"},
        )
        hour = (kit.T0 + 3 * H).replace(minute=0, second=0)
        stub.add_response(
            "list_public_keys",
            list_public_keys_response([other_signer]),
            {"StartTime": hour - 2 * H, "EndTime": hour + 2 * H},
        )
        keys = KeyRing(fetch=cloudtrail_fetcher(lambda region: ct))
        report = kit.verify_s3(s3_client, keys, now=now_after(kit, 4))
        stub.assert_no_pending_responses()
    v = kit.verdicts(report)
    assert v[rotated] == ("valid", None)
    assert set(v.values()) == {("valid", None)}


def status_lookup(ct: Any) -> Any:
    def lookup(chain: Chain) -> TrailStatus | None:
        st = ct.get_trail_status(Name=chain.arn)
        return TrailStatus(
            st.get("IsLogging"), st.get("StopLoggingTime"), st.get("LatestDigestDeliveryTime")
        )

    return lookup


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        ({"IsLogging": False, "StopLoggingTime": "stop"}, SpanKind.LOGGING_STOPPED, "stopped at"),
        (
            {"IsLogging": True, "LatestDigestDeliveryTime": "late"},
            SpanKind.DIGESTS_MISSING,
            "are gone",
        ),
    ],
)
def test_trail_status_tells_stopped_from_deleted(
    kit: Any, signer: Any, s3_client: Any, status: dict[str, Any], kind: SpanKind, words: str
) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(6)
    for k in trail.keys[-2:]:
        del bucket.objects[k]
    bucket.to_s3(s3_client)
    newest = kit.T0 + 3 * H
    times = {"stop": newest - timedelta(minutes=40), "late": kit.T0 + 5 * H + timedelta(minutes=5)}
    response = {k: times.get(v, v) if isinstance(v, str) else v for k, v in status.items()}
    ct = boto3.client("cloudtrail", region_name="us-east-1")
    with Stubber(ct) as stub:
        arn = f"arn:aws:cloudtrail:us-east-1:{kit.ACCOUNT}:trail/{kit.TRAIL}"
        stub.add_response("get_trail_status", response, {"Name": arn})
        report = kit.verify_s3(
            s3_client,
            KeyRing([signer.public_key()]),
            now=now_after(kit, 6),
            status=status_lookup(ct),
        )
    (span,) = report.spans
    assert span.kind is kind
    assert span.start == newest
    assert words in span.detail
    assert report.exit_status() == EXIT_FAILED


def test_mirror_then_verify_offline(kit: Any, signer: Any, s3_client: Any, tmp_path: Path) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(4)
    trail.hour(kit.T0 + 2 * H + timedelta(minutes=20), backfill=True, logs=1)
    bucket.to_s3(s3_client)
    ct = boto3.client("cloudtrail", region_name="us-east-1")
    dest = tmp_path / "mirror"
    now = now_after(kit, 4)
    with Stubber(ct) as stub:
        stub.add_response("list_public_keys", list_public_keys_response([signer]))
        keys = KeyRing(fetch=cloudtrail_fetcher(lambda region: ct))
        reader = S3Reader(s3_client, kit.BUCKET)
        opt = Options(now=now)
        summary = mirror(Verifier(reader, keys, opt), reader, dest, keys, now)
    assert summary.errors == []
    assert (summary.digests, summary.logs, summary.keys) == (5, 9, 1)
    key_doc = (dest / "public-keys.json").read_text()
    assert base64.b64encode(signer.der).decode() in key_doc
    sidecar = dest / (trail.keys[0] + ".meta.json")
    assert '"x-amz-meta-signature"' in sidecar.read_text()
    # offline: the mirrored keys and the manifest's bucket name
    from trailguard.integrity.keys import load_key_file

    offline = kit.verify_dir(
        dest, load_key_file(dest / "public-keys.json"), now=now, bucket=kit.BUCKET
    )
    s3 = kit.verify_s3(s3_client, KeyRing([signer.public_key()]), now=now)
    assert kit.verdicts(offline).values() and set(kit.verdicts(offline).values()) == {
        ("valid", None)
    }
    assert {r.key for r in offline.files} == {r.key for r in s3.files}


def test_objects_with_non_log_names_in_s3_are_unlisted(
    kit: Any, signer: Any, s3_client: Any
) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(5)
    folder = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/10/"
    injected = [
        folder + "111122223333_CloudTrail_us-east-1_20240310T0135Z_abc-DEF.json.gz",
        folder + "999988887777_CloudTrail_us-east-1_20240310T0135Z_abcDEF123.json.gz",
        folder + "evil.json.gz",
        folder + "evil.meta.json",  # no sidecars in S3: an object like any other
    ]
    for key in injected:
        bucket.objects[key] = kit.Obj(kit.gz(b'{"Records":[]}'))
    bucket.to_s3(s3_client)
    s3_client.put_object(Bucket=kit.BUCKET, Key=folder, Body=b"")  # a console "folder"
    report = kit.verify_s3(s3_client, KeyRing([signer.public_key()]), now=now_after(kit, 5))
    v = kit.verdicts(report)
    for key in injected:
        assert v[key] == ("unlisted", "not-a-log-file-name")
    assert folder not in v
    assert report.tally()["log"]["unlisted"] == len(injected)
    assert report.exit_status() == EXIT_FAILED
