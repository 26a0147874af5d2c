"""Country, city and autonomous system of public addresses.

Two sources, both local (no download at run time):

* the database that ships inside the ``geoip2fast`` package (country and AS organisation,
  IPv4 and IPv6, derived from MaxMind GeoLite2) - always there;
* optionally, MaxMind ``.mmdb`` files the user supplies (GeoLite2/GeoIP2 City and ASN,
  settings ``geoip_city_mmdb`` and ``geoip_asn_mmdb``): city precision, coordinates and the
  AS number, which the bundled data lacks.  Where both know a field, the ``.mmdb`` wins.

Look-ups are per distinct address and cached, so a batch costs one look-up per address
not seen before, however many rows repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

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


class GeoLookup:
    """Addresses to :class:`GeoInfo`; the databases load on first use."""

    def __init__(self, city_mmdb: str | None = None, asn_mmdb: str | None = None) -> None:
        self._bundled: Any = None
        self._city = _open_mmdb(city_mmdb, "geoip_city_mmdb")
        self._asn = _open_mmdb(asn_mmdb, "geoip_asn_mmdb")
        self._cache: dict[str, GeoInfo] = {}

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
