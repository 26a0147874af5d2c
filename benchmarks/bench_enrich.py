"""Throughput and memory of the address matcher: a threat list against flow-log addresses.

    python benchmarks/bench_enrich.py [--entries 1000000] [--rows 10000000] [--batch 65536]
    python benchmarks/bench_enrich.py --entries 5000000 --rows 0     # memory of a 5M list

It builds an :class:`~trailguard.enrich.addresses.AddressIndex` of ``--entries`` ranges
(``--v4-share`` IPv4, default 85%; single addresses and CIDRs of realistic lengths, nested
and overlapping at random) and prints the build time, the segments and bytes it became.
It then matches ``--rows`` addresses, ``--batch`` rows at a time, as
``parse_addresses`` + ``AddressIndex.lookup`` (what enrichment does to every address column)
and prints addresses/s for two streams:

- realistic: flow-log ``srcaddr``/``dstaddr`` drawn with a skewed popularity from a working
  set of internal (10.0.0.0/8) and external addresses, ~10% IPv6, a few ``-`` (NODATA),
  ~2% of the external ones on the list;
- worst case: every address distinct and random (85% IPv4, 15% IPv6).

Batches are generated before each is timed; only parse + lookup is timed.  Everything runs
on one core (``OMP_NUM_THREADS=1``, Arrow's CPU pool of 1).  Peak RSS is the process's
high-water mark (``ru_maxrss``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported

import argparse
import resource
import sys
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.enrich.addresses import AddressIndex, parse_addresses

MB = 1024 * 1024
TARGET_RATE = 2_000_000
TARGET_BUILD_S = 10.0
U64 = np.uint64
#: prefix lengths of the IPv4 CIDRs on the list, with their weights (as in FireHOL-like lists)
CIDR4_LENGTHS = {16: 2, 20: 10, 22: 30, 24: 500, 26: 100, 27: 100, 28: 100, 29: 80, 30: 50, 31: 28}


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


# ------------------------------------------------------------------ the list


def make_ranges(n: int, v4_share: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Threat-list-like ranges: mostly single addresses, CIDRs of common lengths."""
    n4 = int(n * v4_share)
    n6 = n - n4
    # IPv4: 70% single addresses, 30% CIDRs (/24 most common; a few as wide as /16)
    addr4 = rng.integers(1 << 24, 224 << 24, n4, dtype=np.uint64)
    lengths, weights = zip(*CIDR4_LENGTHS.items(), strict=True)
    plen4 = np.where(
        rng.random(n4) < 0.7, 32, rng.choice(lengths, n4, p=np.array(weights) / sum(weights))
    ).astype(np.uint64)
    span4 = (U64(1) << (U64(32) - plen4)) - U64(1)
    start4 = addr4 & ~span4 & U64(0xFFFFFFFF)
    # IPv6: 60% single addresses, 40% prefixes (/32 to /64) inside a few thousand /32s
    sites = rng.integers(0x2000_0000, 0x2C00_0000, 4000, dtype=np.uint64)
    hi6 = (sites[rng.integers(0, len(sites), n6)] << U64(32)) | rng.integers(
        0, 1 << 32, n6, dtype=np.uint64
    )
    lo6 = rng.integers(0, np.iinfo(np.uint64).max, n6, dtype=np.uint64, endpoint=True)
    single = rng.random(n6) < 0.6
    plen6 = rng.choice([32, 36, 40, 44, 48, 48, 56, 56, 64, 64, 64], n6).astype(np.uint64)
    hmask = np.where(plen6 >= 64, U64(0), (U64(1) << (U64(64) - plen6)) - U64(1))
    start_hi = np.where(single, hi6, hi6 & ~hmask)
    start_lo = np.where(single, lo6, U64(0))
    end_hi = np.where(single, hi6, start_hi | hmask)
    end_lo = np.where(single, lo6, np.iinfo(np.uint64).max)
    return {
        "v4_start": start4,
        "v4_end": start4 | span4,
        "v4_info": (np.arange(n4) % 50_000).astype(np.int32),
        "v6_start_hi": start_hi,
        "v6_start_lo": start_lo,
        "v6_end_hi": end_hi.astype(np.uint64),
        "v6_end_lo": end_lo.astype(np.uint64),
        "v6_info": (np.arange(n6) % 50_000).astype(np.int32),
    }


# ------------------------------------------------------------------ addresses as text


def v4_text(values: np.ndarray) -> pa.Array:
    octets = [
        pa.array(((values >> U64(shift)) & U64(255)).astype(np.uint8)).cast(pa.string())
        for shift in (24, 16, 8, 0)
    ]
    return pc.binary_join_element_wise(*octets, ".")


def v6_text(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    """Compressed-looking text (zero groups of the prefix kept short), built in Python."""
    out = []
    for h, low in zip(hi.tolist(), lo.tolist(), strict=True):
        groups = [(h >> s) & 0xFFFF for s in (48, 32, 16, 0)]
        groups += [(low >> s) & 0xFFFF for s in (48, 32, 16, 0)]
        out.append(":".join(f"{g:x}" for g in groups))
    return pa.array(out, pa.string())


def working_set(ranges: dict[str, np.ndarray], rng: np.random.Generator) -> pa.Array:
    """Distinct addresses a VPC talks with: internal hosts first, then external ones."""
    internal = (U64(10) << U64(24)) | rng.integers(0, 1 << 24, 3_000, dtype=np.uint64)
    external = rng.integers(1 << 24, 224 << 24, 60_000, dtype=np.uint64)
    listed = ranges["v4_start"][rng.integers(0, len(ranges["v4_start"]), 1_200)]
    # IPv6 peers: a few on the list's prefixes, most elsewhere in the same /16s
    hi6 = ranges["v6_start_hi"][rng.integers(0, len(ranges["v6_start_hi"]), 8_000)]
    hi6[400:] ^= rng.integers(1, 1 << 48, 7_600, dtype=np.uint64)
    lo6 = rng.integers(0, np.iinfo(np.uint64).max, 8_000, dtype=np.uint64, endpoint=True)
    pool = [v4_text(internal), v4_text(np.concatenate([external, listed])), v6_text(hi6, lo6)]
    return pa.concat_arrays([*pool, pa.array(["-"], pa.string())])


def realistic_batches(
    pool: pa.Array, rows: int, batch: int, rng: np.random.Generator
) -> Iterator[pa.Array]:
    # popularity ~ 1 / rank: a few hosts and services take most of the traffic
    weights = 1.0 / np.arange(1, len(pool) + 1)
    weights[-1] = weights[0] * 0.05  # "-" (NODATA records)
    weights /= weights.sum()
    order = rng.permutation(len(pool) - 1)  # popularity unrelated to the pool's order
    ranks = np.append(order, len(pool) - 1)
    cdf = np.cumsum(weights)
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        picks = np.minimum(np.searchsorted(cdf, rng.random(n)), len(pool) - 1)
        yield pool.take(pa.array(ranks[picks]))


def distinct_batches(rows: int, batch: int, rng: np.random.Generator) -> Iterator[pa.Array]:
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        n6 = int(n * 0.15)
        four = v4_text(rng.integers(0, 1 << 32, n - n6, dtype=np.uint64))
        hi = rng.integers(0x2000 << 48, 0x3000 << 48, n6, dtype=np.uint64)
        lo = rng.integers(0, np.iinfo(np.uint64).max, n6, dtype=np.uint64, endpoint=True)
        yield pa.concat_arrays([four, v6_text(hi, lo)]).take(pa.array(rng.permutation(n)))


def run(index: AddressIndex, batches: Iterator[pa.Array]) -> tuple[int, int, float, float]:
    """Rows, hits, wall seconds and CPU seconds of parse + lookup."""
    rows = hits = 0
    wall = cpu = 0.0
    for col in batches:
        t0, c0 = time.perf_counter(), time.process_time()
        found = index.lookup(parse_addresses(col))
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        rows += len(col)
        hits += int((found >= 0).sum())
    return rows, hits, wall, cpu


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=65_536)
    ap.add_argument("--v4-share", type=float, default=0.85)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    rng = np.random.default_rng(args.seed)

    ranges = make_ranges(args.entries, args.v4_share, rng)
    pool = working_set(ranges, rng)
    before = peak_rss()
    t0 = time.perf_counter()
    index = AddressIndex.build(**ranges)
    build_s = time.perf_counter() - t0
    seg4, seg6 = index.segments
    print(
        f"index: {args.entries:,} ranges ({len(ranges['v4_start']):,} IPv4, "
        f"{len(ranges['v6_start_hi']):,} IPv6) -> {seg4:,} + {seg6:,} segments, "
        f"{index.nbytes / MB:,.1f} MB"
    )
    print(
        f"build: {build_s:.2f} s   target < {TARGET_BUILD_S:.0f} s: "
        f"{verdict(build_s < TARGET_BUILD_S)}   peak RSS {before / MB:,.0f} MB before, "
        f"{peak_rss() / MB:,.0f} MB after"
    )
    del ranges
    if not args.rows:
        return 0

    streams = {
        "realistic": realistic_batches(pool, args.rows, args.batch, rng),
        "all distinct": distinct_batches(args.rows, args.batch, rng),
    }
    print(
        f"\n{'stream':<14} {'addresses':>12} {'hits':>10} {'wall s':>7} {'cpu s':>7}"
        f" {'addresses/s (wall)':>19} {'(cpu)':>11}"
    )
    ok = True
    for name, batches in streams.items():
        rows, hits, wall, cpu = run(index, batches)
        rate = rows / wall
        print(
            f"{name:<14} {rows:>12,} {hits:>10,} {wall:>7.2f} {cpu:>7.2f} {rate:>19,.0f}"
            f" {rows / cpu:>11,.0f}   target >= {TARGET_RATE:,}: {verdict(rate >= TARGET_RATE)}"
        )
        ok = ok and (name != "realistic" or rate >= TARGET_RATE)
    print(f"\npeak RSS: {peak_rss() / MB:,.0f} MB")
    return 0 if ok and build_s < TARGET_BUILD_S else 1


if __name__ == "__main__":
    sys.exit(main())
