"""Copying a bucket's CloudTrail logs and digests to a folder that can be verified offline.

Each digest gets its ``<key>.meta.json`` sidecar (its signature metadata), the public keys
that signed the digests go to ``public-keys.json`` (ListPublicKeys' shape), and
``trailguard-mirror.json`` records the bucket and prefix the copy came from.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from trailguard.errors import SourceError
from trailguard.integrity.digest import InvalidDigestError, parse_digest
from trailguard.integrity.gzipped import gunzip_digest
from trailguard.integrity.keys import KeyRing, write_key_file
from trailguard.integrity.layout import parse_digest_key
from trailguard.integrity.reader import (
    META_SUFFIX,
    Blob,
    S3Reader,
    safe_key,
    sidecar_json,
)
from trailguard.integrity.times import fmt_z, parse_z
from trailguard.integrity.verifier import Verifier

MANIFEST: Final = "trailguard-mirror.json"
KEY_FILE: Final = "public-keys.json"
SIGNATURE_METADATA: Final = ("signature", "signature-algorithm", "backfill-generation-timestamp")


@dataclass(slots=True)
class MirrorSummary:
    digests: int = 0
    logs: int = 0
    bytes: int = 0
    keys: int = 0
    errors: list[str] = field(default_factory=list)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def mirror(
    verifier: Verifier, reader: S3Reader, dest: Path, keys: KeyRing, now: datetime
) -> MirrorSummary:
    """Copy the digests and logs ``verifier`` would check (same filters and window)."""
    assert reader.bucket is not None
    bucket = reader.bucket
    out = MirrorSummary()
    chains = verifier.discover()
    digest_keys = [k for ck in chains.values() for k in (*ck.standard, *ck.backfill)]
    log_keys = list(verifier.log_keys())

    def copy(key: str) -> tuple[str, Blob | None, str | None]:
        if not safe_key(key):
            return key, None, f"s3://{bucket}/{key}: the key cannot name a local file"
        try:
            blob = reader.get(bucket, key)
        except SourceError as exc:
            return key, None, str(exc)
        _write(dest / key, blob.data)
        return key, blob, None

    with ThreadPoolExecutor(max_workers=max(1, verifier.opt.workers * 2)) as pool:
        for key, blob, error in pool.map(copy, [k.key for k in digest_keys]):
            if blob is None:
                out.errors.append(error or key)
                continue
            out.digests += 1
            out.bytes += len(blob.data)
            meta = {k: v for k, v in blob.metadata.items() if k in SIGNATURE_METADATA}
            _write(dest / (key + META_SUFFIX), sidecar_json(meta).encode("utf-8"))
            _load_key_for(keys, key, blob)
        for key, blob, error in pool.map(copy, log_keys):
            if blob is None:
                out.errors.append(error or key)
                continue
            out.logs += 1
            out.bytes += len(blob.data)
    found = keys.keys()
    out.keys = len(found)
    out.errors.extend(keys.errors)
    write_key_file(dest / KEY_FILE, found)
    manifest = {
        "bucket": bucket,
        "prefix": verifier.opt.prefix,
        "mirroredAt": fmt_z(now),
        "start": fmt_z(verifier.opt.start) if verifier.opt.start else None,
        "end": fmt_z(verifier.opt.window_end),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return out


def _load_key_for(keys: KeyRing, key: str, blob: Blob) -> None:
    """Make sure the key that signed this digest is in the ring (fetched if needed)."""
    dk = parse_digest_key(key)
    gz, data = gunzip_digest(blob.data)
    if dk is None or not gz.complete:
        return
    try:
        digest = parse_digest(data, gz.sha256)
    except InvalidDigestError:
        return
    when = parse_z(blob.metadata.get("backfill-generation-timestamp")) or digest.end
    try:
        keys.find(digest.fingerprint, dk.chain.region, when)
    except SourceError:
        return  # recorded in keys.errors


def read_manifest(root: Path) -> dict[str, str]:
    """The bucket and prefix a mirrored folder came from ({} if it has no manifest)."""
    try:
        doc = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, str)}
