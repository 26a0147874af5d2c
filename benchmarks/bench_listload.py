"""Load time of a large threat list: parse, then the sorting a matcher needs.

    python benchmarks/bench_listload.py [--entries 1000000] [--format TXT] [--repeat 3] [--seed 1]

Generates (in memory) a TXT list of ``--entries`` lines: 60% IPv4 addresses, 20% IPv4 CIDRs,
12% IPv6 addresses and 8% IPv6 CIDRs, with a few comment lines, then times:

- ``parse``: :func:`trailguard.enrich.listformats.parse_list` from bytes to ``ListEntries``;
- ``index``: what a sorted-interval matcher does next: the arrays viewed as numpy arrays
  (no copy), sorted by start (``argsort``) and gathered;
- ``total``: both, against the issue's target of < 10 s for 1,000,000 entries.

Every figure is the best of ``--repeat`` runs.  ``--format FIREHOL`` writes the same entries
as a FireHOL netset (IPv4 only) instead.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from trailguard.enrich.listformats import parse_list


def generate(entries: int, seed: int, *, ipv6: bool = True) -> bytes:
    rng = random.Random(seed)
    lines = ["# benchmark list", f"# {entries} entries", ""]
    for i in range(entries):
        roll = rng.random() if ipv6 else rng.random() * 0.8
        if roll < 0.6:
            lines.append(
                f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                f"{rng.randint(1, 254)}"
            )
        elif roll < 0.8:
            lines.append(
                f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/"
                f"{rng.choice((16, 20, 24, 24, 28))}"
            )
        elif roll < 0.92:
            group = i & 0xFFFF
            lines.append(f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{group:x}")
        else:
            lines.append(f"2a0{rng.randint(0, 9)}:{rng.getrandbits(16):x}::/{rng.choice((32, 48))}")
    return ("\n".join(lines) + "\n").encode()


def index(entries: object) -> int:
    """Sort the v4 and v6 intervals by start, as a binary-search matcher would."""
    from trailguard.enrich.entries import ListEntries

    assert isinstance(entries, ListEntries)
    start = np.frombuffer(entries.v4_start, dtype=np.uint64)
    end = np.frombuffer(entries.v4_end, dtype=np.uint64)
    order = np.argsort(start, kind="stable")
    sorted_v4 = (start[order], end[order], np.frombuffer(entries.v4_info, dtype=np.int32)[order])
    hi = np.frombuffer(entries.v6_start_hi, dtype=np.uint64)
    lo = np.frombuffer(entries.v6_start_lo, dtype=np.uint64)
    order6 = np.lexsort((lo, hi))
    sorted_v6 = (hi[order6], lo[order6])
    return len(sorted_v4[0]) + len(sorted_v6[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("TXT", "FIREHOL"), default="TXT")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    data = generate(args.entries, args.seed, ipv6=args.format == "TXT")
    print(f"list: {args.entries:,} entries, {len(data) / 1e6:.1f} MB, format {args.format}")
    best_parse = best_index = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        parsed = parse_list(data, args.format, source="bench")
        t1 = time.perf_counter()
        indexed = index(parsed)
        t2 = time.perf_counter()
        best_parse, best_index = min(best_parse, t1 - t0), min(best_index, t2 - t1)
        assert indexed == len(parsed) and parsed.bad_count == 0, (indexed, parsed.bad_count)
    total = best_parse + best_index
    print(f"parse: {best_parse:6.2f} s  {args.entries / best_parse:12,.0f} entries/s")
    print(f"index: {best_index:6.2f} s")
    print(
        f"total: {total:6.2f} s  {args.entries / total:12,.0f} entries/s  "
        f"(target < 10 s for 1,000,000: {'met' if total * 1e6 / args.entries < 10 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
