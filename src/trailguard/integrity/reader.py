"""Reading a bucket's objects and metadata: from S3, or from a local copy of it.

A local copy mirrors the S3 keys under a folder; an object's S3 metadata is kept beside
it in ``<key>.meta.json`` (a JSON object keyed by header names such as
``x-amz-meta-signature``).  botocore and file-system errors are translated here: a
missing object is :class:`ObjectMissingError` (``NoSuchKey``, or ``AccessDenied``, which
is what S3 answers for a missing key to a caller without ``s3:ListBucket``); anything
else about one object is :class:`ObjectUnreadableError`.  Both name the object, and the
caller reports them against it and goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from trailguard.errors import SourceError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

META_SUFFIX: Final = ".meta.json"
META_PREFIX: Final = "x-amz-meta-"
CHUNK: Final = 1024 * 1024
MAX_SIDECAR: Final = 64 * 1024


class ObjectMissingError(SourceError):
    """The object does not exist (or S3 would not say, answering AccessDenied)."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(f"{name}: not found" + (f" ({detail})" if detail else ""))
        self.detail = detail


class ObjectUnreadableError(SourceError):
    """The object could not be read for another reason (network, permissions, I/O)."""


@dataclass(frozen=True, slots=True)
class Blob:
    """An object's bytes and its user metadata, keyed as boto3 does (``signature``, ...)."""

    data: bytes
    metadata: dict[str, str] = field(default_factory=dict)
    metadata_error: str | None = None


class BucketReader(Protocol):
    """What the verifier needs of a bucket: listings in key order, and objects."""

    bucket: str | None  # None: a local copy whose bucket name is not known

    def display(self, bucket: str, key: str) -> str: ...

    def list_keys(self, prefix: str, start_after: str = "") -> Iterator[str]: ...

    def list_dirs(self, prefix: str) -> list[str]: ...

    def get(self, bucket: str, key: str) -> Blob: ...

    def chunks(self, bucket: str, key: str) -> Iterator[bytes]: ...


# --- S3 -------------------------------------------------------------------------------


def describe_client_error(exc: Exception) -> tuple[str, str]:
    """(code, message) of a botocore error."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error: dict[str, Any] = dict(exc.response.get("Error", {}))
        return str(error.get("Code") or "error"), str(error.get("Message") or "")
    return type(exc).__name__, str(exc)


_MISSING_CODES: Final = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES: Final = {"AccessDenied", "403"}


class S3Reader:
    """Objects of S3 buckets through one client (logs may live in another bucket)."""

    def __init__(self, client: S3Client, bucket: str, page_size: int | None = None) -> None:
        self.client = client
        self.bucket: str | None = bucket
        self.page_size = page_size

    def display(self, bucket: str, key: str) -> str:
        return f"s3://{bucket}/{key}"

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.page_size is not None:
            kwargs["PaginationConfig"] = {"PageSize": self.page_size}
        name = f"s3://{self.bucket}/{kwargs.get('Prefix', '')}"
        try:
            pages = iter(self.client.get_paginator("list_objects_v2").paginate(**kwargs))
            while True:
                try:
                    page = next(pages)
                except StopIteration:
                    return
                yield dict(page)
        except (BotoCoreError, ClientError) as exc:
            code, message = describe_client_error(exc)
            raise SourceError(f"{name}: cannot list objects: {code}: {message}") from exc

    def list_keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        assert self.bucket is not None
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            args["StartAfter"] = start_after
        for page in self._pages(**args):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def list_dirs(self, prefix: str) -> list[str]:
        assert self.bucket is not None
        out: list[str] = []
        for page in self._pages(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return out

    def _get_object(self, bucket: str, key: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self.display(bucket, key)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            code, message = describe_client_error(exc)
            if code in _MISSING_CODES:
                raise ObjectMissingError(name) from exc
            if code in _DENIED_CODES:
                raise ObjectMissingError(
                    name,
                    "S3 answered AccessDenied, as it does for a missing key without s3:ListBucket",
                ) from exc
            raise ObjectUnreadableError(f"{name}: cannot read: {code}: {message}") from exc

    def get(self, bucket: str, key: str) -> Blob:
        from botocore.exceptions import BotoCoreError, ClientError

        response = self._get_object(bucket, key)
        try:
            data = response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise ObjectUnreadableError(f"{self.display(bucket, key)}: read failed: {exc}") from exc
        finally:
            response["Body"].close()
        meta = {str(k).lower(): str(v) for k, v in (response.get("Metadata") or {}).items()}
        return Blob(data, meta)

    def chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        body = self._get_object(bucket, key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectUnreadableError(f"{self.display(bucket, key)}: read failed: {exc}") from exc
        finally:
            body.close()


# --- a local copy ---------------------------------------------------------------------


def safe_key(key: str) -> bool:
    """A key that names a file inside the copy (no ``..``, no absolute path, no NUL)."""
    if not key or "\x00" in key or "\\" in key:
        return False
    wrapped = f"/{key}/"
    return "/../" not in wrapped and "/./" not in wrapped and "//" not in wrapped


class LocalReader:
    """A folder laid out like the bucket: ``<root>/<key>``, metadata in sidecars.

    ``bucket`` is the bucket the copy was made from, if known (``--bucket``, or the
    manifest ``trailguard mirror`` writes); when it is None, objects of any bucket are
    looked up in the copy and digests' ``digestS3Bucket`` is not compared.
    """

    def __init__(self, root: Path, bucket: str | None = None) -> None:
        self.root = root
        self.bucket = bucket
        self._base = os.path.join(str(root), "")

    def display(self, bucket: str, key: str) -> str:
        return self._base + key if safe_key(key) else f"{self._base}{key!r}"

    def _file(self, bucket: str, key: str) -> str:
        if not safe_key(key):
            raise ObjectMissingError(
                self.display(bucket, key), "the key cannot name a file in a local copy"
            )
        if self.bucket is not None and bucket != self.bucket:
            raise ObjectMissingError(
                self.display(bucket, key), f"bucket {bucket!r} is not the copied bucket"
            )
        return self._base + key if os.sep == "/" else os.path.join(self._base, *key.split("/"))

    def _path(self, bucket: str, key: str) -> Path:
        return Path(self._file(bucket, key))

    def local_path(self, bucket: str, key: str) -> str:
        """The file that holds ``key`` (ObjectMissingError if no file can)."""
        return self._file(bucket, key)

    def list_keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        folder, _, _ = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel + "/"
            dirnames[:] = [d for d in dirnames if _may_hold(rel + d + "/", prefix)]
            for f in filenames:
                key = rel + f
                if key.startswith(prefix) and key > start_after and not f.endswith(META_SUFFIX):
                    found.append(key)
        found.sort()
        yield from found

    def list_dirs(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        try:
            entries = sorted(e.name for e in os.scandir(base) if e.is_dir())
        except OSError:
            return []
        return [f"{prefix}{name}/" for name in entries]

    def _read(self, path: Path, name: str) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissingError(name) from exc
        except OSError as exc:
            raise ObjectUnreadableError(f"{name}: cannot read: {exc.strerror or exc}") from exc

    def get(self, bucket: str, key: str) -> Blob:
        path = self._path(bucket, key)
        data = self._read(path, self.display(bucket, key))
        meta, error = read_sidecar(path.with_name(path.name + META_SUFFIX))
        return Blob(data, meta, error)

    def chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        path = self._file(bucket, key)
        name = self.display(bucket, key)
        try:
            fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise ObjectMissingError(name) from exc
        except OSError as exc:
            raise ObjectUnreadableError(f"{name}: cannot open: {exc.strerror or exc}") from exc
        with fh:
            while True:
                try:
                    chunk = fh.read(CHUNK)
                except OSError as exc:
                    raise ObjectUnreadableError(f"{name}: read failed: {exc}") from exc
                if not chunk:
                    return
                yield chunk


def _may_hold(folder: str, prefix: str) -> bool:
    """Whether keys under ``folder`` can start with ``prefix``."""
    return folder.startswith(prefix) or prefix.startswith(folder)


def read_sidecar(path: Path) -> tuple[dict[str, str], str | None]:
    """An object's metadata from its sidecar: ``({"signature": ...}, None)``, or
    ``({}, reason)`` when the sidecar exists but is not a JSON object of strings.  No
    sidecar means no metadata."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SIDECAR + 1)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"sidecar {path.name} cannot be read: {exc.strerror or exc}"
    if len(raw) > MAX_SIDECAR:
        return {}, f"sidecar {path.name} is larger than {MAX_SIDECAR:,} bytes"
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return {}, f"sidecar {path.name} is not JSON"
    if not isinstance(doc, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in doc.items()
    ):
        return {}, f"sidecar {path.name} is not a JSON object of strings"
    meta: dict[str, str] = {}
    for k, v in doc.items():
        name = k.lower()
        meta[name[len(META_PREFIX) :] if name.startswith(META_PREFIX) else name] = v
    return meta, None


def sidecar_json(metadata: dict[str, str]) -> str:
    """The sidecar text for boto3-style metadata (keys without ``x-amz-meta-``)."""
    doc = {f"{META_PREFIX}{k.lower()}": v for k, v in sorted(metadata.items())}
    return json.dumps(doc, indent=1) + "\n"
