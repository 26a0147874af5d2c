"""S3Source against a moto server on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ResponseStreamingError,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber
from urllib3.exceptions import ProtocolError

from trailguard.errors import SourceError
from trailguard.formats.decompress import iter_chunks
from trailguard.sources.base import SourceObject, open_sources
from trailguard.sources.s3 import S3Source, parse_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "trail-logs"


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


def put(client: S3Client, key: str, body: bytes = b"x", **kwargs: Any) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body, **kwargs)


def names(objects: list[SourceObject]) -> list[str]:
    return [o.name for o in objects]


# -- URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
        ("s3://b/AWSLogs/123/", "b", "AWSLogs/123/"),
        ("s3://b/AWSLogs", "b", "AWSLogs"),
    ],
)
def test_parse_s3_url(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["b/prefix", "http://b/prefix", "s3://", "s3:///prefix"])
def test_bad_url_is_a_source_error(url: str) -> None:
    with pytest.raises(SourceError, match="s3://"):
        S3Source.from_url(url)


def test_from_url_makes_a_client_on_the_endpoint(moto_server: str, s3_client: S3Client) -> None:
    s3_client.create_bucket(Bucket=BUCKET)
    put(s3_client, "AWSLogs/a.json", b"{}")
    source = S3Source.from_url(f"s3://{BUCKET}/AWSLogs/", endpoint_url=moto_server)
    try:
        assert (source.bucket, source.prefix) == (BUCKET, "AWSLogs/")
        assert names(list(source.objects())) == [f"s3://{BUCKET}/AWSLogs/a.json"]
    finally:
        source.close()


def test_from_url_uses_a_given_client(s3_client: S3Client) -> None:
    source = S3Source.from_url(f"s3://{BUCKET}/p/", client=s3_client, page_size=7)
    assert source.client is s3_client
    assert source.page_size == 7
    source.close()  # not ours: must leave the caller's client usable
    s3_client.list_buckets()


def test_open_sources_picks_s3_for_s3_urls(moto_server: str, s3_client: S3Client) -> None:
    s3_client.create_bucket(Bucket=BUCKET)
    put(s3_client, "logs/a.log")
    [source] = open_sources([f"s3://{BUCKET}/logs/"], endpoint_url=moto_server)
    assert isinstance(source, S3Source)
    try:
        assert names(list(source.objects())) == [f"s3://{BUCKET}/logs/a.log"]
    finally:
        source.close()


def test_page_size_must_be_positive(s3_client: S3Client) -> None:
    with pytest.raises(ValueError, match="page_size"):
        S3Source(BUCKET, client=s3_client, page_size=0)


# -- listing ------------------------------------------------------------------


def test_lists_under_the_prefix_only(s3_client: S3Client, bucket: str) -> None:
    for key in [
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/01/a.json.gz",
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/02/b.json.gz",
        "AWSLogs/456/CloudTrail/us-east-1/2024/01/01/c.json.gz",
        "other/d.json.gz",
    ]:
        put(s3_client, key)
    source = S3Source.from_url(f"s3://{bucket}/AWSLogs/123/", client=s3_client)
    assert names(list(source.objects())) == [
        f"s3://{bucket}/AWSLogs/123/CloudTrail/us-east-1/2024/01/01/a.json.gz",
        f"s3://{bucket}/AWSLogs/123/CloudTrail/us-east-1/2024/01/02/b.json.gz",
    ]
    everything = S3Source.from_url(f"s3://{bucket}", client=s3_client)
    assert len(list(everything.objects())) == 4


def test_skips_folder_keys_and_meta_sidecars(s3_client: S3Client, bucket: str) -> None:
    for key in ["logs/", "logs/2024/", "logs/2024/a.log", "logs/2024/a.log.meta.json"]:
        put(s3_client, key, b"" if key.endswith("/") else b"data")
    source = S3Source(bucket, "logs/", client=s3_client)
    assert names(list(source.objects())) == [f"s3://{bucket}/logs/2024/a.log"]


def test_empty_prefix_lists_nothing(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "logs/a.log")
    assert list(S3Source(bucket, "nothing-here/", client=s3_client).objects()) == []


def test_objects_come_in_key_order(s3_client: S3Client, bucket: str) -> None:
    # S3 lists in UTF-8 binary order, which is Python's str order: '-' < '/' < '0' < 'Z' < 'a'.
    keys = ["p/b.log", "p/a0.log", "p/a/b.log", "p/a-b.log", "p/Z.log", "p/é.log", "p/a.log"]
    for key in keys:
        put(s3_client, key)
    listed = names(list(S3Source(bucket, "p/", client=s3_client, page_size=2).objects()))
    assert listed == [f"s3://{bucket}/{k}" for k in sorted(keys)]


def test_paginates(s3_client: S3Client, bucket: str) -> None:
    keys = [f"logs/{i:04d}.log" for i in range(53)]
    for key in reversed(keys):
        put(s3_client, key, key.encode())
    requests: list[dict[str, Any]] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        requests.append(params)

    s3_client.meta.events.register("provide-client-params.s3.ListObjectsV2", count)
    objects = list(S3Source(bucket, "logs/", client=s3_client, page_size=5).objects())
    assert names(objects) == [f"s3://{bucket}/{k}" for k in keys]
    assert len(requests) == 11  # ceil(53 / 5)
    assert {r["MaxKeys"] for r in requests} == {5}
    assert all(o.open().read() == o.name.split("/", 3)[3].encode() for o in objects)


# -- versions -----------------------------------------------------------------


def test_version_is_the_etag_without_quotes(s3_client: S3Client, bucket: str) -> None:
    body = b'{"Records": []}'
    put(s3_client, "logs/a.json", body)
    [obj] = list(S3Source(bucket, "logs/", client=s3_client).objects())
    etag = s3_client.head_object(Bucket=bucket, Key="logs/a.json")["ETag"]
    assert etag.startswith('"')
    assert obj.version == etag.strip('"') == hashlib.md5(body).hexdigest()
    assert obj.size == len(body)


def test_version_changes_when_content_changes(s3_client: S3Client, bucket: str) -> None:
    source = S3Source(bucket, "logs/", client=s3_client)
    put(s3_client, "logs/a.json", b"one")
    [before] = list(source.objects())
    put(s3_client, "logs/a.json", b"two")
    [after] = list(source.objects())
    assert before.name == after.name
    assert before.version != after.version


# -- reading ------------------------------------------------------------------


def test_reads_bytes_in_pieces(s3_client: S3Client, bucket: str) -> None:
    body = bytes(range(256)) * 1000
    put(s3_client, "logs/a.bin", body)
    [obj] = list(S3Source(bucket, "logs/", client=s3_client).objects())
    with obj.open() as stream:
        assert stream.readable()
        assert stream.read(0) == b""
        assert stream.read(10) == body[:10]
        assert stream.read(100_000) == body[10:100_010]
        assert stream.read() == body[100_010:]
        assert stream.read(10) == b""
    assert stream.closed
    # each open is a fresh GET
    with obj.open() as again:
        assert again.read() == body


def test_reads_an_empty_object(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "logs/empty.log", b"")
    [obj] = list(S3Source(bucket, "logs/", client=s3_client).objects())
    assert obj.size == 0
    with obj.open() as stream:
        assert stream.read(1024) == b""


@pytest.mark.parametrize("content_encoding", [None, "gzip"])
def test_reads_gzip_bytes_unchanged(
    s3_client: S3Client, bucket: str, content_encoding: str | None
) -> None:
    # The source hands over the stored bytes; decompressing is formats/' job, even
    # when the object says Content-Encoding: gzip.
    text = b"".join(b'{"eventName": "GetObject", "n": %d}\n' % i for i in range(5000))
    compressed = gzip.compress(text)
    extra = {"ContentEncoding": content_encoding} if content_encoding else {}
    put(s3_client, "logs/a.json.gz", compressed, **extra)
    [obj] = list(S3Source(bucket, "logs/", client=s3_client).objects())
    assert obj.size == len(compressed)
    with obj.open() as stream:
        assert stream.read(2) == b"\x1f\x8b"
    with obj.open() as stream:
        assert b"".join(iter_chunks(stream, limit=10 * len(text), read_size=4096)) == text


# -- errors -------------------------------------------------------------------


def test_missing_bucket_is_a_source_error(s3_client: S3Client) -> None:
    source = S3Source.from_url("s3://no-such-bucket/logs/", client=s3_client)
    objects = source.objects()  # a generator: nothing is requested yet
    with pytest.raises(SourceError, match=r"s3://no-such-bucket/logs/.*NoSuchBucket") as info:
        next(objects)
    assert isinstance(info.value.__cause__, ClientError)


def test_object_deleted_after_listing_fails_to_open(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "logs/a.log", b"a")
    put(s3_client, "logs/b.log", b"b")
    first, second = S3Source(bucket, "logs/", client=s3_client).objects()
    s3_client.delete_object(Bucket=bucket, Key="logs/a.log")
    with pytest.raises(SourceError, match=rf"s3://{bucket}/logs/a\.log.*NoSuchKey") as info:
        first.open()
    assert isinstance(info.value.__cause__, ClientError)
    with second.open() as stream:  # one object's failure does not touch the others
        assert stream.read() == b"b"


def test_object_overwritten_after_listing_fails_to_open(s3_client: S3Client, bucket: str) -> None:
    # Reading new bytes under the old version would make the checkpoint lie.
    put(s3_client, "logs/a.log", b"old")
    [obj] = S3Source(bucket, "logs/", client=s3_client).objects()
    put(s3_client, "logs/a.log", b"new")
    with pytest.raises(SourceError, match=rf"s3://{bucket}/logs/a\.log.*PreconditionFailed"):
        obj.open()


def test_no_credentials_is_a_source_error(
    moto_server: str, s3_client: S3Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_SECURITY_TOKEN")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found
    source = S3Source.from_url(f"s3://{BUCKET}/logs/", endpoint_url=moto_server)
    try:
        with pytest.raises(SourceError, match=rf"s3://{BUCKET}/logs/.*no AWS credentials") as info:
            list(source.objects())
        assert isinstance(info.value.__cause__, NoCredentialsError)
    finally:
        source.close()


def test_unreachable_endpoint_is_a_source_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    try:
        source = S3Source(BUCKET, "logs/", client=client)
        with pytest.raises(SourceError, match=rf"s3://{BUCKET}/logs/.*127\.0\.0\.1") as info:
            list(source.objects())
        assert isinstance(info.value.__cause__, EndpointConnectionError)
    finally:
        client.close()


class _BrokenRaw(io.BytesIO):
    """An HTTP body that dies after its first bytes."""

    def __init__(self) -> None:
        super().__init__(b"\x1f\x8b")

    def read(self, size: int | None = -1, /) -> bytes:
        if data := super().read(size):
            return data
        raise ProtocolError("Connection broken: IncompleteRead")


def test_read_failure_midway_is_a_source_error(s3_client: S3Client) -> None:
    stubber = Stubber(s3_client)
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": "logs/a.gz", "ETag": '"abc"', "Size": 1000}]},
        {"Bucket": BUCKET, "Prefix": "logs/"},
    )
    stubber.add_response(
        "get_object",
        {"Body": StreamingBody(_BrokenRaw(), 1000)},
        {"Bucket": BUCKET, "Key": "logs/a.gz", "IfMatch": "abc"},
    )
    with stubber:
        [obj] = S3Source(BUCKET, "logs/", client=s3_client).objects()
        with obj.open() as stream:
            assert stream.read(2) == b"\x1f\x8b"
            with pytest.raises(
                SourceError, match=rf"s3://{BUCKET}/logs/a\.gz: read failed"
            ) as info:
                stream.read(100)
        assert isinstance(info.value.__cause__, ResponseStreamingError)
        stubber.assert_no_pending_responses()
