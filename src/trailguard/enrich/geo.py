"""Country, city and autonomous system of public addresses.

Two sources, both local (no download at run time):

* the database that ships inside the ``geoip2fast`` package (country and AS organisation,
  IPv4 and IPv6, derived from MaxMind GeoLite2) - always there;
* optionally, MaxMind ``.mmdb`` files the user supplies (GeoLite2/GeoIP2 City and ASN,
  settings ``geoip_city_mmdb`` and ``geoip_asn_mmdb``): city precision, coordinates and the
  AS number, which the bundled data lacks.  Where both know a field, the ``.mmdb`` wins.

The bundled database is read once into sorted interval arrays (the same
:class:`~trailguard.enrich.addresses.AddressIndex` the threat lists use), so a batch's
addresses are looked up together, vectorised.  Should a later ``geoip2fast`` store its data
differently, look-ups fall back to its own per-address API, cached per address.  ``.mmdb``
look-ups are per distinct public address, cached.
"""

from __future__ import annotations

import bisect
import gzip
import os
import pickle
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np
import platformdirs
import pyarrow as pa

from trailguard.enrich.addresses import AddressIndex, ParsedAddresses
from trailguard.errors import ConfigError

#: the geoip2fast data file with country + ASN for IPv4 and IPv6
BUNDLED_DATA: Final = "geoip2fast-asn-ipv6.dat.gz"
CACHE_LIMIT: Final = 500_000
#: AS organisations of Amazon's networks, as the bundled data names them
AMAZON_AS_ORGS: Final = frozenset({"AMAZON-02", "AMAZON-AES", "AMAZON-2011", "AMAZON-CORP"})


@dataclass(frozen=True, slots=True)
class GeoInfo:
    country_code: str | None = None
    country_name: str | None = None
    city: str | None = None
    asn: int | None = None
    as_org: str | None = None
    latitude: float | None = None
    longitude: float | None = None


NOWHERE: Final = GeoInfo()
_U64: Final = (1 << 64) - 1
#: geoip2fast's first 16 country entries are IANA special-purpose networks, not countries
_SPECIAL_COUNTRIES: Final = 16


@dataclass(frozen=True, slots=True)
class GeoColumns:
    """Per distinct address of a batch: the geo fields, as Arrow arrays of equal length."""

    country_code: pa.Array
    country_name: pa.Array
    city: pa.Array
    asn: pa.Array
    as_org: pa.Array


@dataclass(frozen=True, slots=True)
class _Tables:
    country: AddressIndex
    country_codes: pa.Array
    country_names: pa.Array
    asn: AddressIndex
    as_orgs: pa.Array


def _ranges(firsts: list[int], netlens: list[int], ids: list[int]) -> tuple[list[Any], list[Any]]:
    """Split networks into IPv4 (start, end, id) and IPv6 (hi/lo start, hi/lo end, id) arrays.

    The data lists networks in ascending order, IPv4 (below 2**32) first."""
    k = bisect.bisect_left(firsts, 1 << 32)
    start4 = np.array(firsts[:k], np.uint64)
    bits4 = np.array(netlens[:k], np.uint64)
    v4: list[Any] = [
        start4,
        start4 + (np.uint64(1) << (np.uint64(32) - bits4)) - np.uint64(1),
        np.array(ids[:k], np.int32),
    ]
    first6 = firsts[k:]
    last6 = [f + (1 << (128 - b)) - 1 for f, b in zip(first6, netlens[k:], strict=True)]
    v6: list[Any] = [
        [f >> 64 for f in first6],
        [f & _U64 for f in first6],
        [f >> 64 for f in last6],
        [f & _U64 for f in last6],
        ids[k:],
    ]
    return v4, v6


def _index(v4: list[Any], v6: list[Any]) -> AddressIndex:
    return AddressIndex.build(
        np.array(v4[0], np.uint64),
        np.array(v4[1], np.uint64),
        np.array(v4[2], np.int32),
        np.array(v6[0], np.uint64),
        np.array(v6[1], np.uint64),
        np.array(v6[2], np.uint64),
        np.array(v6[3], np.uint64),
        np.array(v6[4], np.int32),
    )


def _cache_file() -> Path | None:
    """Where the compiled bundled database is kept, named for the data it came from."""
    try:
        data = Path(str(resources.files("geoip2fast").joinpath(BUNDLED_DATA)))
        stat = data.stat()
    except (OSError, ModuleNotFoundError, TypeError):
        return None
    key = f"{version('geoip2fast')}-{stat.st_size}-{int(stat.st_mtime)}"
    return Path(platformdirs.user_cache_dir("trailguard")) / f"geoip2fast-{key}.npz"


def _save(tables: _Tables, path: Path) -> None:
    arrays: dict[str, Any] = {}
    for name, index in (("country", tables.country), ("asn", tables.asn)):
        arrays.update({f"{name}.{k}": v for k, v in index.arrays().items()})
    for name in ("country_codes", "country_names", "as_orgs"):
        values = getattr(tables, name).to_pylist()
        arrays[name] = np.array(["" if v is None else v for v in values], dtype=np.str_)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            np.savez(f, **arrays)
        tmp.replace(path)
    except OSError:
        pass  # no cache: the next scan compiles the data again


def _load(path: Path) -> _Tables | None:
    try:
        with np.load(path, allow_pickle=False) as z:

            def index(name: str) -> AddressIndex:
                prefix = f"{name}."
                return AddressIndex.from_arrays(
                    {k[len(prefix) :]: z[k] for k in z.files if k.startswith(prefix)}
                )

            def strings(name: str) -> pa.Array:
                return pa.array([v or None for v in z[name].tolist()], pa.string())

            return _Tables(
                index("country"),
                strings("country_codes"),
                strings("country_names"),
                index("asn"),
                strings("as_orgs"),
            )
    except (OSError, ValueError, KeyError):
        return None


def _load_bundled_tables() -> _Tables | None:
    """The bundled data as interval arrays (compiled once, then cached); None if unusable."""
    cache = _cache_file()
    if cache is not None and cache.is_file():
        tables = _load(cache)
        if tables is not None:
            return tables
    tables = _compile_bundled_tables()
    if tables is not None and cache is not None:
        _save(tables, cache)
    return tables


def _compile_bundled_tables() -> _Tables | None:
    """The bundled data as interval arrays; None if its layout is not the one we know."""
    try:
        path = resources.files("geoip2fast").joinpath(BUNDLED_DATA)
        with path.open("rb") as raw, gzip.open(raw) as f:
            # the package's own data file, shipped with it (not user input)
            version, info, _total, db = pickle.load(f)
        if version != 120 or not (info.get("country") and info.get("asn")) or len(db) != 10:
            return None
        (_, _, names_c, names_a, first_c, first_a, id_c, id_a, len_c, len_a) = db

        def flat(chunks: list[list[int]]) -> list[int]:
            return [x for chunk in chunks for x in chunk]

        codes, names = [], []
        for i, entry in enumerate(names_c):
            code, _, name = str(entry).partition(":")
            special = i < _SPECIAL_COUNTRIES or code == "99"
            codes.append(None if special else code)
            names.append(None if special else name)
        country = _index(*_ranges(flat(first_c), flat(len_c), flat(id_c)))
        orgs = [None if n == "<unknown>" else str(n) for n in names_a]
        asn = _index(*_ranges(flat(first_a), flat(len_a), flat(id_a)))
        return _Tables(
            country,
            pa.array(codes, pa.string()),
            pa.array(names, pa.string()),
            asn,
            pa.array(orgs, pa.string()),
        )
    except Exception:
        return None


class GeoLookup:
    """Addresses to :class:`GeoInfo`; the databases load on first use."""

    def __init__(self, city_mmdb: str | None = None, asn_mmdb: str | None = None) -> None:
        self._bundled: Any = None
        self._city = _open_mmdb(city_mmdb, "geoip_city_mmdb")
        self._asn = _open_mmdb(asn_mmdb, "geoip_asn_mmdb")
        self._cache: dict[str, GeoInfo] = {}
        self._loaded: tuple[_Tables | None] | None = None

    def columns(self, texts: pa.Array, parsed: ParsedAddresses, public: np.ndarray) -> GeoColumns:
        """Geo fields of each distinct address (``texts``, parsed), null where not public."""
        n = len(texts)
        tables = self._tables()
        if tables is None:
            return self._columns_by_api(texts, public)
        mask = ~np.asarray(public, dtype=bool)

        def take(index: AddressIndex, values: pa.Array) -> pa.Array:
            found = index.lookup(parsed)
            return values.take(pa.array(found, pa.int32(), mask=(found < 0) | mask))

        out = GeoColumns(
            take(tables.country, tables.country_codes),
            take(tables.country, tables.country_names),
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.int64()),
            take(tables.asn, tables.as_orgs),
        )
        if self._city is None and self._asn is None:
            return out
        return self._with_mmdb(out, texts, public)

    def _with_mmdb(self, base: GeoColumns, texts: pa.Array, public: np.ndarray) -> GeoColumns:
        cols = {
            "country_code": base.country_code.to_pylist(),
            "country_name": base.country_name.to_pylist(),
            "city": base.city.to_pylist(),
            "asn": base.asn.to_pylist(),
            "as_org": base.as_org.to_pylist(),
        }
        for i, (ip, ok) in enumerate(zip(texts.to_pylist(), public.tolist(), strict=True)):
            if not (ok and ip):
                continue
            info = self.lookup(ip)
            for field in ("country_code", "country_name", "city", "asn", "as_org"):
                value = getattr(info, field)
                if value is not None:
                    cols[field][i] = value
        return GeoColumns(
            pa.array(cols["country_code"], pa.string()),
            pa.array(cols["country_name"], pa.string()),
            pa.array(cols["city"], pa.string()),
            pa.array(cols["asn"], pa.int64()),
            pa.array(cols["as_org"], pa.string()),
        )

    def _columns_by_api(self, texts: pa.Array, public: np.ndarray) -> GeoColumns:
        infos = [
            self.lookup(ip) if ok and ip else NOWHERE
            for ip, ok in zip(texts.to_pylist(), public.tolist(), strict=True)
        ]
        return GeoColumns(
            pa.array([g.country_code for g in infos], pa.string()),
            pa.array([g.country_name for g in infos], pa.string()),
            pa.array([g.city for g in infos], pa.string()),
            pa.array([g.asn for g in infos], pa.int64()),
            pa.array([g.as_org for g in infos], pa.string()),
        )

    def _tables(self) -> _Tables | None:
        if self._loaded is None:
            self._loaded = (_load_bundled_tables(),)
        return self._loaded[0]

    def lookup(self, ip: str) -> GeoInfo:
        got = self._cache.get(ip)
        if got is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            got = self._cache[ip] = self._lookup(ip)
        return got

    def _lookup(self, ip: str) -> GeoInfo:
        bundled = self._bundled_db()
        r = bundled.lookup(ip)
        code = r.country_code if r.country_code and r.country_code != "--" else None
        info: dict[str, Any] = {
            "country_code": code,
            "country_name": r.country_name if code else None,
            "as_org": r.asn_name or None,
        }
        if self._city is not None:
            rec = _get(self._city, ip)
            if rec:
                country = rec.get("country") or rec.get("registered_country") or {}
                if country.get("iso_code"):
                    info["country_code"] = country["iso_code"]
                    info["country_name"] = (country.get("names") or {}).get("en")
                city = (rec.get("city") or {}).get("names") or {}
                info["city"] = city.get("en")
                location = rec.get("location") or {}
                info["latitude"] = location.get("latitude")
                info["longitude"] = location.get("longitude")
        if self._asn is not None:
            rec = _get(self._asn, ip)
            if rec:
                info["asn"] = rec.get("autonomous_system_number")
                info["as_org"] = rec.get("autonomous_system_organization") or info["as_org"]
        return GeoInfo(**info)

    def _bundled_db(self) -> Any:
        if self._bundled is None:
            from geoip2fast import GeoIP2Fast

            self._bundled = GeoIP2Fast(geoip2fast_data_file=BUNDLED_DATA)
        return self._bundled


def _open_mmdb(path: str | None, setting: str) -> Any:
    if not path:
        return None
    import maxminddb

    try:
        return maxminddb.open_database(str(Path(path).expanduser()))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"{setting}: cannot open {path}: {exc}") from exc


def _get(reader: Any, ip: str) -> dict[str, Any] | None:
    try:
        rec = reader.get(ip)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None
