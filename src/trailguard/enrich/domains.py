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
        self._exact = exact
        self._exact_info = exact_info
        self._wild = wild
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
        return len(self._exact) + len(self._wild)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        arrays = (self._exact_info, self._wild_info)
        return int(self._exact.nbytes + self._wild.nbytes + sum(a.nbytes for a in arrays))

    def lookup_distinct(self, names: pa.StringArray) -> NDArray[np.int32]:
        """The payload of each name (no nulls in ``names``; -1: no match)."""
        result = np.full(len(names), -1, np.int32)
        if not len(names) or not len(self):
            return result
        norm = normalise_domains(names)
        if len(self._exact):
            found = _index_in(norm, self._exact)
            hit = found >= 0
            result[hit] = self._exact_info[found[hit]]
        if len(self._wild):
            todo = np.flatnonzero(result < 0)
            current = norm.take(pa.array(todo))
            while len(todo):
                dotted = pc.match_substring(current, ".").to_numpy(zero_copy_only=False)
                keep = np.flatnonzero(dotted)
                todo = todo[keep]
                current = pc.replace_substring_regex(
                    current.take(pa.array(keep)), _FIRST_LABEL, "", max_replacements=1
                )
                found = _index_in(current, self._wild)
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


def _index_in(values: pa.StringArray, keys: pa.StringArray) -> NDArray[np.int64]:
    found = pc.index_in(values, value_set=keys)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int64)
