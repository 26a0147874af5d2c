"""Domain names matched against exact names and wildcard suffixes, whole columns at once.

Names are compared after normalising both sides the same way: lower case (Arrow's
``utf8_lower``) and one trailing dot removed (Route 53 Resolver's ``query_name`` is fully
qualified: ``example.org.``).  Names are taken as written: IDNA names match as the punycode
(``xn--…``) or Unicode text they are given in, without converting one into the other.

A name's payload is the exact entry's if there is one, else the *longest* wildcard suffix
that the name ends with on a label boundary.  A wildcard ``example.org`` (written
``*.example.org``, ``.example.org`` or ``example.org`` in :meth:`DomainIndex.build`'s
``wildcards``) matches ``a.example.org`` and ``a.b.example.org`` but neither
``badexample.org`` nor the apex ``example.org`` itself - as a DNS wildcard (RFC 4592) and
Route 53 Resolver DNS Firewall's ``*.example.org`` do.  A list that means "this domain and
everything below it" (adblock ``||example.org^``, a bare domain in some feeds) gives the
domain both as an exact entry and as a wildcard.  Among duplicate entries, the lowest payload
wins.

Lookups work on the column's distinct values only, and the suffix search strips one label per
step from all still-unmatched names at once (at most as many steps as the deepest name has
labels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike, NDArray

from trailguard.enrich.addresses import Column, encode_distinct

__all__ = ["DomainIndex", "normalise_domains"]

_FIRST_LABEL = r"^[^.]*\."


def normalise_domains(names: pa.StringArray) -> pa.StringArray:
    """Lower-cased, with one trailing dot removed."""
    lower = pc.utf8_lower(names)
    return pc.if_else(pc.ends_with(lower, "."), pc.utf8_slice_codeunits(lower, 0, -1), lower)


def _keys(
    names: Sequence[str], info: ArrayLike, what: str, *, wildcard: bool
) -> tuple[pa.StringArray, NDArray[np.int32]]:
    """Normalised, distinct entries, each with its lowest payload, sorted by name."""
    arr = pa.array(list(names), pa.string())
    payload = np.asarray(info)
    if payload.shape != (len(arr),):
        raise ValueError(f"{what}_info must hold one payload per entry ({len(arr)})")
    if len(payload) and (payload.dtype.kind not in "iu" or payload.min() < 0):
        raise ValueError(f"{what}_info must hold int32 payloads >= 0")
    if arr.null_count:
        raise ValueError(f"{what} holds None")
    if wildcard:  # "*.example.org" and ".example.org" mean "example.org"
        arr = pc.replace_substring_regex(arr, r"^\*?\.", "", max_replacements=1)
    keys = normalise_domains(arr)
    if len(keys) and not pc.all(pc.greater(pc.utf8_length(keys), 0)).as_py():
        raise ValueError(f"{what} holds an empty name")
    table = pa.table({"key": keys, "info": pa.array(payload.astype(np.int32), pa.int32())})
    table = table.group_by("key").aggregate([("info", "min")]).sort_by("key")
    return table["key"].combine_chunks(), table["info_min"].to_numpy().astype(np.int32)


# ------------------------------------------------------------------ a reusable string set
#
# ``pyarrow.compute.index_in`` hashes its whole value set on every call, which for a list of
# a million names costs ~100 ms per batch and per label step.  A list is hashed once
# instead: a 64-bit polynomial hash of each key (computed for all strings at once from
# prefix sums over the data buffer), sorted; a lookup hashes the names, binary-searches the
# hashes and confirms each candidate by comparing the strings themselves, so a hash
# collision can cost a comparison but never give a wrong answer.

_M64 = (1 << 64) - 1
_BASES = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_CHUNK_BYTES = 1 << 20
_powers_cache: dict[int, tuple[NDArray[np.uint64], NDArray[np.uint64]]] = {}


def _powers(base: int, n: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """``base**i`` and ``base**-i`` modulo 2**64 for ``i`` in ``0..n`` (base is odd)."""
    cached = _powers_cache.get(base)
    if cached is not None and len(cached[0]) > n:
        return cached
    size = max(n + 1, 1 << 16)
    out = []
    for b in (base, pow(base, -1, 1 << 64)):
        p = np.ones(size, np.uint64)
        p[1:] = np.cumprod(np.full(size - 1, b, np.uint64))  # wraps modulo 2**64
        out.append(p)
    powers = (out[0], out[1])
    if size <= 2 * _CHUNK_BYTES:
        _powers_cache[base] = powers
    return powers


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser: spreads the polynomial hash over all 64 bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _hash_strings(values: pa.StringArray, base: int) -> NDArray[np.uint64]:
    n = len(values)
    out = np.empty(n, np.uint64)
    if not n:
        return out
    _, off_buf, data_buf = values.buffers()
    offsets = np.frombuffer(off_buf, np.int32, count=n + 1, offset=values.offset * 4)
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    first = 0
    while first < n:  # strings in chunks of about _CHUNK_BYTES
        last = int(np.searchsorted(offsets, offsets[first] + _CHUNK_BYTES, side="right")) - 1
        last = min(max(last, first + 1), n)
        lo, hi = int(offsets[first]), int(offsets[last])
        power, inverse = _powers(base, hi - lo)
        sums = np.zeros(hi - lo + 1, np.uint64)
        np.cumsum(data[lo:hi].astype(np.uint64) * power[: hi - lo], out=sums[1:])
        start = offsets[first:last] - lo
        stop = offsets[first + 1 : last + 1] - lo
        h = (sums[stop] - sums[start]) * inverse[start]
        out[first:last] = _mix(h ^ (stop - start).astype(np.uint64) * np.uint64(_BASES[1]))
        first = last
    return out


class _StringSet:
    """Distinct strings, hashed once, for repeated membership lookups."""

    __slots__ = ("base", "hashes", "keys", "order")

    def __init__(self, keys: pa.StringArray) -> None:
        self.keys = keys
        for base in _BASES:  # a collision among the keys themselves: try another base
            hashes = _hash_strings(keys, base)
            order = np.argsort(hashes)
            hashes = hashes[order]
            if not len(hashes) or not (hashes[1:] == hashes[:-1]).any():
                break
        else:  # pragma: no cover - four independent 64-bit collisions
            raise RuntimeError("could not hash the names without collisions")
        self.base = base
        self.hashes = hashes
        self.order = order.astype(np.int32 if len(keys) < 2**31 else np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.hashes.nbytes + self.order.nbytes)

    def find(self, values: pa.StringArray) -> NDArray[np.int64]:
        """Each value's position in the keys, or -1."""
        found = np.full(len(values), -1, np.int64)
        if not len(values) or not len(self.keys):
            return found
        h = _hash_strings(values, self.base)
        pos = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
        cand = np.flatnonzero(self.hashes[pos] == h)
        if len(cand):
            key = self.order[pos[cand]].astype(np.int64)
            same = pc.equal(values.take(pa.array(cand)), self.keys.take(pa.array(key)))
            ok = same.to_numpy(zero_copy_only=False)
            found[cand[ok]] = key[ok]
        return found


class DomainIndex:
    """Exact domain names and wildcard suffixes with an ``int32`` payload each.

    Build it with :meth:`build`; :meth:`lookup_column` gives each row's payload.
    """

    __slots__ = ("_exact", "_exact_info", "_wild", "_wild_info")

    def __init__(
        self,
        exact: pa.StringArray,
        exact_info: NDArray[np.int32],
        wild: pa.StringArray,
        wild_info: NDArray[np.int32],
    ) -> None:
        """Normalised, distinct keys and their payloads; use :meth:`build`."""
        self._exact = _StringSet(exact)
        self._exact_info = exact_info
        self._wild = _StringSet(wild)
        self._wild_info = wild_info

    @classmethod
    def build(
        cls,
        exact: Sequence[str] = (),
        exact_info: ArrayLike = (),
        wildcards: Sequence[str] = (),
        wildcard_info: ArrayLike = (),
    ) -> DomainIndex:
        """An index of exact names and wildcard suffixes (``example.org`` or
        ``*.example.org``: any name below ``example.org``), each with a payload >= 0.

        Raises ``ValueError`` on mismatched lengths, ``None`` or empty names.
        """
        e_keys, e_info = _keys(exact, exact_info, "exact", wildcard=False)
        w_keys, w_info = _keys(wildcards, wildcard_info, "wildcard", wildcard=True)
        return cls(e_keys, e_info, w_keys, w_info)

    def __len__(self) -> int:
        return len(self._exact.keys) + len(self._wild.keys)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        arrays = (self._exact_info, self._wild_info)
        return self._exact.nbytes + self._wild.nbytes + sum(a.nbytes for a in arrays)

    def lookup_distinct(self, names: pa.StringArray) -> NDArray[np.int32]:
        """The payload of each name (no nulls in ``names``; -1: no match)."""
        result = np.full(len(names), -1, np.int32)
        if not len(names) or not len(self):
            return result
        norm = normalise_domains(names)
        if len(self._exact.keys):
            found = self._exact.find(norm)
            hit = found >= 0
            result[hit] = self._exact_info[found[hit]]
        if len(self._wild.keys):
            todo = np.flatnonzero(result < 0)
            current = norm.take(pa.array(todo))
            while len(todo):
                dotted = pc.match_substring(current, ".").to_numpy(zero_copy_only=False)
                keep = np.flatnonzero(dotted)
                todo = todo[keep]
                current = pc.replace_substring_regex(
                    current.take(pa.array(keep)), _FIRST_LABEL, "", max_replacements=1
                )
                found = self._wild.find(current)
                hit = found >= 0
                result[todo[hit]] = self._wild_info[found[hit]]
                miss = np.flatnonzero(~hit)
                todo = todo[miss]
                current = current.take(pa.array(miss))
        return result

    def lookup(self, col: Column) -> NDArray[np.int32]:
        """The payload for each row of a string column (-1: null or no match)."""
        values, codes = encode_distinct(col)
        return np.append(self.lookup_distinct(values), np.int32(-1))[codes]

    def lookup_column(self, col: Column) -> pa.Int32Array:
        """The payload for each row of a string column; null where nothing matches."""
        found = self.lookup(col)
        return pa.array(found, pa.int32(), mask=found < 0)
