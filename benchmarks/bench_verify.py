"""Throughput of ``trailguard verify`` on a local copy, beside ``zcat FILES | sha256sum``.

    python benchmarks/bench_verify.py [--data DIR] [--files 10000] [--digests 240] [--repeat 3]

Verifying CloudTrail integrity is decompression and hashing.  This script writes (once,
then reuses) a signed local copy of a trail under ``--data`` (default: a hidden folder in
the system's temporary directory): ``--digests`` hourly digests, each with its
``.meta.json`` sidecar, over ``--files`` gzip log files of realistic records, and a
``public-keys.json``.  Then, with the page cache warm, it times on the same files:

- ``zcat FILES | sha256sum``: one pipeline, ``xargs zcat`` feeding ``sha256sum`` (two
  processes, so it too uses both cores);
- ``trailguard verify DIR`` as a child process (interpreter start-up included), which
  must report every file valid;

and prints files/s, MB/s (compressed and uncompressed) and trailguard's ratio to the
pipeline (target >= 1.0).  Every figure is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MB = 1024 * 1024
ACCOUNT = "111122223333"
REGION = "us-east-1"
BUCKET = "bench-trail-bucket"
TRAIL = "bench"
FIRST_END = datetime(2024, 3, 1, 0, 1, 31, tzinfo=UTC)
EVENTS = ("GetObject", "PutObject", "AssumeRole", "DescribeInstances", "ListBuckets", "Decrypt")
SOURCES = ("s3.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com", "kms.amazonaws.com")


def z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ the signed copy


def record(rnd: random.Random, when: datetime, n: int) -> dict[str, object]:
    user = f"user-{rnd.randrange(40)}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDA{rnd.randrange(10**12):012d}",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "accessKeyId": f"AKIA{rnd.randrange(10**12):012d}",
            "userName": user,
        },
        "eventTime": z(when - timedelta(seconds=n)),
        "eventSource": rnd.choice(SOURCES),
        "eventName": rnd.choice(EVENTS),
        "awsRegion": REGION,
        "sourceIPAddress": f"203.0.113.{rnd.randrange(256)}",
        "userAgent": rnd.choice(("aws-cli/2.15.0", "Boto3/1.34.0", "console.amazonaws.com")),
        "requestParameters": {"bucketName": f"data-{rnd.randrange(9)}", "key": f"k/{n}"},
        "responseElements": None,
        "requestID": f"{rnd.getrandbits(64):016X}",
        "eventID": f"{rnd.getrandbits(128):032x}",
        "readOnly": rnd.random() < 0.7,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
    }


def write_copy(root: Path, n_files: int, n_digests: int, seed: int) -> datetime:
    """Write the copy; returns the last digest's end time."""
    rnd = random.Random(seed)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    fingerprint = hashlib.md5(der).hexdigest()
    base = f"AWSLogs/{ACCOUNT}/"
    prev: tuple[str, str, str] | None = None  # key, sha256, signature
    end = FIRST_END
    for h in range(n_digests):
        end = FIRST_END + timedelta(hours=h)
        files = n_files // n_digests + (1 if h < n_files % n_digests else 0)
        entries = []
        for i in range(files):
            when = end - timedelta(minutes=59) + timedelta(seconds=i * 3500 // max(files, 1))
            unique = "".join(rnd.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl0123456789", k=16))
            key_name = (
                f"{base}CloudTrail/{REGION}/{when:%Y/%m/%d}/"
                f"{ACCOUNT}_CloudTrail_{REGION}_{when:%Y%m%dT%H%MZ}_{unique}.json.gz"
            )
            raw = json.dumps(
                {"Records": [record(rnd, when, n) for n in range(rnd.randrange(20, 60))]},
                separators=(",", ":"),
            ).encode()
            path = root / key_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(raw, 6, mtime=0))
            entries.append(
                {
                    "s3Bucket": BUCKET,
                    "s3Object": key_name,
                    "hashValue": hashlib.sha256(raw).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": z(when),
                    "oldestEventTime": z(when - timedelta(minutes=5)),
                }
            )
        digest_key = (
            f"{base}CloudTrail-Digest/{REGION}/{end:%Y/%m/%d}/{ACCOUNT}_CloudTrail-Digest_"
            f"{REGION}_{TRAIL}_{REGION}_{end:%Y%m%dT%H%M%SZ}.json.gz"
        )
        doc = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": z(end - timedelta(hours=1)),
            "digestEndTime": z(end),
            "digestS3Bucket": BUCKET,
            "digestS3Object": digest_key,
            "digestPublicKeyFingerprint": fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": z(end),
            "oldestEventTime": z(end - timedelta(hours=1)),
            "previousDigestS3Bucket": BUCKET if prev else None,
            "previousDigestS3Object": prev[0] if prev else None,
            "previousDigestHashValue": prev[1] if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev[2] if prev else None,
            "logFiles": entries,
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        sha = hashlib.sha256(raw).hexdigest()
        signed = f"{z(end)}\n{BUCKET}/{digest_key}\n{sha}\n{prev[2] if prev else 'null'}"
        signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        path = root / digest_key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(raw, 6, mtime=0))
        meta = {
            "x-amz-meta-signature": signature,
            "x-amz-meta-signature-algorithm": "SHA256withRSA",
        }
        path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
        prev = (digest_key, sha, signature)
    keys = {
        "PublicKeyList": [
            {
                "Value": base64.b64encode(der).decode(),
                "ValidityStartTime": z(FIRST_END - timedelta(days=1)),
                "ValidityEndTime": z(end + timedelta(days=1)),
                "Fingerprint": fingerprint,
            }
        ]
    }
    (root / "public-keys.json").write_text(json.dumps(keys))
    (root / "trailguard-mirror.json").write_text(json.dumps({"bucket": BUCKET}))
    (root / ".complete").write_text(z(end))
    return end


# ------------------------------------------------------------------ timing


@dataclass
class Timed:
    label: str
    seconds: float
    note: str = ""


def best_of(repeat: int, fn: object) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best, result


def zcat_sha256sum(file_list: Path) -> str:
    """``zcat FILES | sha256sum``, with the file names fed through xargs (ARG_MAX)."""
    with file_list.open("rb") as names:
        zcat = subprocess.Popen(["xargs", "-0", "zcat", "--"], stdin=names, stdout=subprocess.PIPE)
        assert zcat.stdout is not None
        out = subprocess.run(
            ["sha256sum"], stdin=zcat.stdout, capture_output=True, check=True
        ).stdout
        zcat.stdout.close()
        if zcat.wait() != 0:
            raise RuntimeError("zcat failed")
    return out.decode().split()[0]


def trailguard_command(given: str | None) -> list[str]:
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).parent / "trailguard"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("trailguard")
    return [found] if found else [sys.executable, "-m", "trailguard"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="folder for the signed copy (reused)")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--digests", type=int, default=240)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--trailguard", help="command to run instead of `trailguard` (shell words)")
    args = ap.parse_args(argv)

    data = args.data or Path(tempfile.gettempdir()) / (
        f".trailguard-bench-verify-{args.files}-{args.digests}-{args.seed}"
    )
    marker = data / ".complete"
    if marker.exists():
        last_end = datetime.strptime(marker.read_text(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        print(f"reusing {data}")
    else:
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        began = time.perf_counter()
        last_end = write_copy(data, args.files, args.digests, args.seed)
        print(f"wrote {data} in {time.perf_counter() - began:.1f} s")
    logs = sorted((data / "AWSLogs").rglob("*_CloudTrail_*.json.gz"))
    digests = sorted((data / "AWSLogs").rglob("*_CloudTrail-Digest_*.json.gz"))
    files = logs + digests
    compressed = sum(p.stat().st_size for p in files)
    uncompressed = 0
    for p in files:  # warms the page cache too
        uncompressed += len(gzip.decompress(p.read_bytes()))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {len(logs):,} log files + "
        f"{len(digests)} digests: {compressed / MB:,.1f} MB compressed, "
        f"{uncompressed / MB:,.1f} MB uncompressed"
    )

    with tempfile.NamedTemporaryFile(suffix=".list", delete=False) as fh:
        fh.write(b"\0".join(str(p).encode() for p in files))
        file_list = Path(fh.name)
    rows: list[Timed] = []
    try:
        sec, _ = best_of(args.repeat, lambda: zcat_sha256sum(file_list))
        rows.append(Timed("zcat FILES | sha256sum", sec))
    finally:
        file_list.unlink()

    tg = trailguard_command(args.trailguard)
    now = last_end + timedelta(hours=2, minutes=30)
    cmd = [
        *tg,
        "verify",
        str(data),
        "--now",
        z(now),
        "--workers",
        str(args.workers),
        "--format",
        "json",
    ]
    output: list[bytes] = []

    def verify() -> int:
        proc = subprocess.run(cmd, capture_output=True, check=False)
        output[:] = [proc.stdout + proc.stderr]
        return proc.returncode

    sec, code = best_of(args.repeat, verify)
    summary = json.loads(output[0].decode().strip().splitlines()[-1]) if code in (0, 3, 4) else {}
    logs_ok = summary.get("logs", {}).get("valid", 0)
    digests_ok = summary.get("digests", {}).get("valid", 0)
    rows.append(
        Timed(
            "trailguard verify",
            sec,
            f"exit {code}: {digests_ok} digests and {logs_ok:,} log files valid",
        )
    )
    if code != 0:
        print(f"trailguard verify failed (exit {code}); last output:")
        print("\n".join("    " + ln for ln in output[0].decode().splitlines()[-10:]))

    print(f"\n{'':26} {'seconds':>8} {'files/s':>10} {'MB/s gz':>9} {'MB/s raw':>9}")
    for r in rows:
        print(
            f"{r.label:26} {r.seconds:8.3f} {len(files) / r.seconds:10,.0f} "
            f"{compressed / MB / r.seconds:9.1f} {uncompressed / MB / r.seconds:9.1f}  {r.note}"
        )
    ratio = rows[0].seconds / rows[1].seconds
    verdict = "PASS" if ratio >= 1.0 and code == 0 else "FAIL"
    print(f"\ntrailguard / pipeline (speed): {ratio:.2f}   target >= 1.00: {verdict}")
    print(f"command: {shlex.join(cmd)}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
