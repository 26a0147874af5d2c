"""Objects under an S3 prefix, in key order, read through boto3.

Credentials, region and profile come from the usual AWS settings (environment,
``AWS_PROFILE``, config files, instance roles); ``endpoint_url`` points the client
at another S3-compatible endpoint.  botocore errors are translated into
:class:`~trailguard.errors.SourceError` here, where they enter: a listing failure
is raised by :meth:`S3Source.objects`, a failure to open or read one object by
that object's opener or stream, so the caller can set that object aside and go on.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from trailguard.errors import SourceError
from trailguard.sources.base import SourceObject

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.credentials import Credentials
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ListObjectsV2OutputTypeDef

_SKIP_SUFFIXES: Final = ("/", ".meta.json")
_BUFFER_SIZE: Final = 256 * 1024


def _describe(exc: Exception) -> str:
    """A short, human reason for a botocore error."""
    if isinstance(exc, ClientError):
        error: dict[str, Any] = dict(exc.response.get("Error", {}))
        code = error.get("Code") or "error"
        message = error.get("Message") or ""
        return f"{code}: {message}" if message else str(code)
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an instance/task role is available)"
        )
    return str(exc) or type(exc).__name__


#: credentials as handed to another process: access key, secret key, session token
Keys = tuple[str, str, str | None]


def make_client(endpoint_url: str | None, where: str = "S3", keys: Keys | None = None) -> S3Client:
    """An S3 client with boto3's usual credential and region settings (or ``keys``)."""
    return _session_client(endpoint_url, where, keys)[0]


def _session_client(
    endpoint_url: str | None, where: str, keys: Keys | None = None
) -> tuple[S3Client, Credentials | None]:
    """An S3 client and the credentials it signs with (refreshed as they expire)."""
    try:
        session = boto3.session.Session()
        if keys is not None:
            key, secret, token = keys
            client = session.client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                aws_session_token=token,
            )
            return client, None
        return session.client("s3", endpoint_url=endpoint_url), session.get_credentials()
    except (BotoCoreError, ValueError) as exc:
        # ValueError: botocore rejects a malformed endpoint_url this way.
        raise SourceError(f"{where}: cannot create an S3 client: {exc}") from exc


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into ``(bucket, prefix)``; the prefix may be empty."""
    if not url.startswith("s3://"):
        raise SourceError(f"{url}: not an S3 URL (expected s3://bucket/prefix)")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise SourceError(f"{url}: no bucket name (expected s3://bucket/prefix)")
    return bucket, prefix


class _S3Stream(io.RawIOBase):
    """A raw stream over a ``get_object`` body that reports read failures as SourceError.

    Reads are translated here because they happen later, in formats/, which knows
    nothing of botocore (a connection reset or timeout halfway through an object).
    """

    def __init__(self, body: StreamingBody, name: str) -> None:
        super().__init__()
        self._body = body
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"{self._name}: read failed: {_describe(exc)}") from exc
        n = len(data)
        view[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._body.close()
            finally:
                super().close()


class S3Source:
    """Every object under ``s3://bucket/prefix``, in key order.

    "Folder" placeholder keys (ending in ``/``) and ``.meta.json`` sidecars are
    skipped.  An object's version is its ETag, and opening it asks for that ETag
    (``If-Match``), so the bytes read are always the ones the version names: an
    object overwritten since it was listed fails to open rather than being read
    under its old version.

    The prefix is a plain key prefix, as in S3: ``logs`` also matches ``logs2/...``;
    end it with ``/`` to mean a folder.  Keys come in the order S3 lists them, which
    for general-purpose buckets is UTF-8 binary (= Python ``str``) order.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: S3Client,
        page_size: int | None = None,
        owns_client: bool = False,
        endpoint_url: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be positive, not {page_size}")
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.page_size = page_size
        self._owns_client = owns_client
        self.endpoint_url = endpoint_url
        #: what the client we made signs with; reader processes are handed it
        self.credentials = credentials

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        client: S3Client | None = None,
        page_size: int | None = None,
    ) -> S3Source:
        """A source for ``s3://bucket/prefix``.

        Without ``client``, one is made with boto3's usual credential and region
        settings, on ``endpoint_url`` if given (ignored when ``client`` is passed).
        """
        bucket, prefix = parse_s3_url(url)
        owns_client = client is None
        credentials = None
        if client is None:
            client, credentials = _session_client(endpoint_url, url)
        return cls(
            bucket,
            prefix,
            client=client,
            page_size=page_size,
            owns_client=owns_client,
            endpoint_url=endpoint_url,
            credentials=credentials,
        )

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def close(self) -> None:
        """Close the client's connections, if this source made the client."""
        if self._owns_client:
            self.client.close()

    def objects(self) -> Iterator[SourceObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            pages = iter(
                paginator.paginate(Bucket=self.bucket, Prefix=self.prefix)
                if self.page_size is None
                else paginator.paginate(
                    Bucket=self.bucket,
                    Prefix=self.prefix,
                    PaginationConfig={"PageSize": self.page_size},
                )
            )
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"{self.url}: cannot list objects: {_describe(exc)}") from exc
        while True:
            # Only the request is guarded: the caller's own work happens at the yield.
            try:
                page = next(pages)
            except StopIteration:
                return
            except (BotoCoreError, ClientError) as exc:
                raise SourceError(f"{self.url}: cannot list objects: {_describe(exc)}") from exc
            yield from self._page_objects(page)

    def _page_objects(self, page: ListObjectsV2OutputTypeDef) -> Iterator[SourceObject]:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(_SKIP_SUFFIXES):
                continue
            etag = obj["ETag"].strip('"')
            opener: Callable[[], BinaryIO] = (
                # a client we made can be made again elsewhere; one we were given cannot
                S3Opener(self.bucket, key, etag, self.endpoint_url, self.client, self.credentials)
                if self._owns_client
                else partial(self._open, key, etag)
            )
            yield SourceObject(
                name=f"s3://{self.bucket}/{key}", version=etag, size=obj["Size"], opener=opener
            )

    def _open(self, key: str, etag: str) -> BinaryIO:
        return open_object(self.client, self.bucket, key, etag)


def open_object(client: S3Client, bucket: str, key: str, etag: str) -> BinaryIO:
    """A buffered stream over one object, at the version ``etag`` names (``If-Match``)."""
    name = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key, IfMatch=etag)
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(f"{name}: cannot open: {_describe(exc)}") from exc
    return io.BufferedReader(_S3Stream(response["Body"], name), _BUFFER_SIZE)


#: this process's clients, by endpoint (a reader process makes its own)
_CLIENTS: dict[tuple[str | None, Keys | None], S3Client] = {}


class S3Opener:
    """Opens one listed object.  It can be pickled (the client is left behind), so that a
    reader process opens the object itself, with a client of its own on the same
    endpoint, signing with the credentials the source's client had then (frozen as it
    is pickled): a profile that assumes a role with MFA, or runs a
    ``credential_process``, is resolved once, in the process that lists the objects,
    not again in every reader."""

    __slots__ = ("bucket", "client", "credentials", "endpoint_url", "etag", "key", "keys")

    def __init__(
        self,
        bucket: str,
        key: str,
        etag: str,
        endpoint_url: str | None,
        client: S3Client | None,
        credentials: Credentials | None = None,
        keys: Keys | None = None,
    ) -> None:
        self.bucket, self.key, self.etag = bucket, key, etag
        self.endpoint_url, self.client = endpoint_url, client
        self.credentials, self.keys = credentials, keys

    def __call__(self) -> BinaryIO:
        client = self.client
        if client is None:
            cached = (self.endpoint_url, self.keys)
            client = _CLIENTS.get(cached)
            if client is None:
                where = f"s3://{self.bucket}/{self.key}"
                client = _CLIENTS[cached] = make_client(self.endpoint_url, where, self.keys)
        return open_object(client, self.bucket, self.key, self.etag)

    def __reduce__(self) -> tuple[Any, ...]:
        keys = self.keys
        if self.credentials is not None:
            # refreshed here first if they are about to expire (a role's session)
            frozen = self.credentials.get_frozen_credentials()
            if frozen.access_key and frozen.secret_key:
                keys = (frozen.access_key, frozen.secret_key, frozen.token)
        return (S3Opener, (self.bucket, self.key, self.etag, self.endpoint_url, None, None, keys))
