"""Fetch one document - a threat list, a feed, AWS's ip-ranges.json - from a file, HTTP(S) or S3.

Requests are conditional when a previous copy's validators are given (``If-None-Match`` with
the ETag, ``If-Modified-Since`` with the Last-Modified date), so a feed that did not change
costs one small response.  gzip content is decompressed (with the same bomb limit as logs).
Failures are :class:`~trailguard.errors.SourceError`, naming the location.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from trailguard.errors import DecompressError, SourceError
from trailguard.formats.decompress import iter_chunks

#: the largest list document accepted, decompressed (GuardDuty's own cap is 35 MB)
MAX_DOCUMENT_BYTES: Final = 1024**3
USER_AGENT: Final = "trailguard-intel/1"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetch's outcome: ``data`` is None when the server said "not modified"."""

    data: bytes | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.data is None


def redact(location: str) -> str:
    """``location`` fit to print or store in a finding: a URL's password (or lone user
    token) and its query values (API keys, signatures) become ``***``."""
    if "://" not in location:
        return location
    try:
        parts = urlsplit(location)
    except ValueError:
        return location.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, colon, _ = user.partition(":")
        netloc = f"{name}:***@{host}" if colon else f"***@{host}"
    query = "&".join(
        f"{key}=***" if value else key
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def fetch(
    location: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    endpoint_url: str | None = None,
    timeout: float = 60.0,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Fetched:
    """Read ``location``: a path, ``http(s)://…`` or ``s3://bucket/key``."""
    if location.startswith(("http://", "https://")):
        fetched = _fetch_http(location, etag, last_modified, timeout, max_bytes)
    elif location.startswith("s3://"):
        fetched = _fetch_s3(location, etag, last_modified, endpoint_url, max_bytes)
    else:
        try:
            with Path(location).expanduser().open("rb") as f:
                data = _read_limited(f, max_bytes, location)
        except OSError as exc:
            raise SourceError(f"{location}: cannot read: {exc.strerror or exc}") from exc
        fetched = Fetched(data)
    if fetched.data is None:
        return fetched
    return Fetched(
        _decompress(fetched.data, redact(location), max_bytes), fetched.etag, fetched.last_modified
    )


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_limited(stream: _Readable, limit: int, where: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise SourceError(f"{where}: larger than {limit} bytes")
    return data


def _decompress(data: bytes, where: str, limit: int) -> bytes:
    try:
        return b"".join(iter_chunks(io.BytesIO(data), limit))
    except DecompressError as exc:
        raise SourceError(f"{where}: {exc}") from exc


def _fetch_http(
    url: str, etag: str | None, last_modified: str | None, timeout: float, limit: int
) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = _read_limited(response, limit, url)
            missing = getattr(response, "length", None)
            if missing:  # the connection closed before Content-Length bytes arrived
                raise SourceError(f"{redact(url)}: truncated response ({missing} bytes missing)")
            return Fetched(
                data, response.headers.get("ETag"), response.headers.get("Last-Modified")
            )
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response and its connection
        if exc.code == 304:
            return Fetched(None, exc.headers.get("ETag") or etag, last_modified)
        raise SourceError(f"{redact(url)}: HTTP {exc.code} {exc.reason}") from exc
    except http.client.HTTPException as exc:  # IncompleteRead, BadStatusLine, ...
        raise SourceError(f"{redact(url)}: cannot fetch: {type(exc).__name__}: {exc}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SourceError(f"{redact(url)}: cannot fetch: {reason}") from exc


def _fetch_s3(
    url: str, etag: str | None, last_modified: str | None, endpoint_url: str | None, limit: int
) -> Fetched:
    from botocore.exceptions import BotoCoreError, ClientError

    from trailguard.sources.s3 import _describe, make_client, parse_s3_url

    bucket, key = parse_s3_url(url)
    if not key:
        raise SourceError(f"{redact(url)}: no object key (expected s3://bucket/key)")
    kwargs: dict[str, object] = {"Bucket": bucket, "Key": key}
    if etag:
        kwargs["IfNoneMatch"] = etag
    elif last_modified:
        # Only without an ETag: S3 (and moto) answer 304 when If-Modified-Since holds even
        # if the ETag differs, and LastModified has one-second precision, so an object
        # rewritten within the second of the last fetch would be missed.
        with contextlib.suppress(TypeError, ValueError):  # an unreadable date: fetch in full
            kwargs["IfModifiedSince"] = parsedate_to_datetime(last_modified)
    try:
        got = make_client(endpoint_url, url).get_object(**kwargs)  # type: ignore[arg-type]
        data = _read_limited(got["Body"], limit, url)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 304 or exc.response.get("Error", {}).get("Code") in ("304", "NotModified"):
            return Fetched(None, etag, last_modified)
        raise SourceError(f"{redact(url)}: {_describe(exc)}") from exc
    except BotoCoreError as exc:
        raise SourceError(f"{redact(url)}: {_describe(exc)}") from exc
    modified = got.get("LastModified")
    return Fetched(
        data,
        got.get("ETag"),
        modified.strftime("%a, %d %b %Y %H:%M:%S GMT") if modified else None,
    )
