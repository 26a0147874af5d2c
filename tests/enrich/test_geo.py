"""GeoIP/ASN from the bundled database: vectorised look-ups, the compiled cache, the fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from trailguard.enrich import geo
from trailguard.enrich.addresses import is_public, parse_addresses
from trailguard.enrich.geo import GeoLookup, _compile_bundled_tables, _load, _save
from trailguard.errors import ConfigError

ADDRESSES = ["8.8.8.8", "10.0.0.1", "2600:1f18::1", "52.95.108.1", "not an ip", "192.0.2.1"]


def columns(lookup: GeoLookup, texts: list[str]) -> dict[str, list[object]]:
    arr = pa.array(texts)
    parsed = parse_addresses(arr)
    got = lookup.columns(arr, parsed, is_public(parsed))
    return {
        "country": got.country_code.to_pylist(),
        "name": got.country_name.to_pylist(),
        "org": got.as_org.to_pylist(),
        "asn": got.asn.to_pylist(),
    }


def test_public_addresses_get_country_and_organisation() -> None:
    out = columns(GeoLookup(), ADDRESSES)
    assert out["country"] == ["US", None, "US", "US", None, None]
    assert out["name"][0] == "United States"
    assert out["org"][0] == "GOOGLE"
    assert out["org"][3] == "AMAZON-02"
    assert out["asn"] == [None] * len(ADDRESSES)  # the bundled data has no AS numbers


def test_vectorised_tables_agree_with_the_packages_own_lookup() -> None:
    """For addresses inside the networks the data lists, both give the same country."""
    from geoip2fast import GeoIP2Fast

    api = GeoIP2Fast(geoip2fast_data_file=geo.BUNDLED_DATA)
    rng = np.random.default_rng(5)
    texts = [".".join(str(int(x)) for x in rng.integers(1, 223, 4)) for _ in range(2000)]
    out = columns(GeoLookup(), texts)
    compared = 0
    for text, country in zip(texts, out["country"], strict=True):
        r = api.lookup(text)
        if r.is_private or not r.country_code or r.country_code == "--":
            continue
        assert country == r.country_code, text
        compared += 1
    assert compared > 1000


def test_the_compiled_cache_gives_the_same_answers(tmp_path: Path) -> None:
    tables = _compile_bundled_tables()
    assert tables is not None
    path = tmp_path / "geo.npz"
    _save(tables, path)
    loaded = _load(path)
    assert loaded is not None
    arr = pa.array(ADDRESSES)
    parsed = parse_addresses(arr)
    for a, b in ((tables.country, loaded.country), (tables.asn, loaded.asn)):
        assert a.lookup(parsed).tolist() == b.lookup(parsed).tolist()
    assert loaded.country_codes.to_pylist() == tables.country_codes.to_pylist()
    assert loaded.as_orgs.to_pylist() == tables.as_orgs.to_pylist()


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "geo.npz"
    path.write_bytes(b"not numpy")
    assert _load(path) is None


def test_unknown_data_layout_falls_back_to_the_packages_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(geo, "_load_bundled_tables", lambda: None)
    out = columns(GeoLookup(), ["8.8.8.8", "10.0.0.1"])
    assert out["country"] == ["US", None]
    assert out["org"][0] == "GOOGLE"


def test_a_missing_mmdb_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="geoip_city_mmdb"):
        GeoLookup(city_mmdb=str(tmp_path / "missing.mmdb"))


def _write_mmdb(path: Path, db_type: str, networks: dict[str, dict[str, object]]) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type=db_type, ipv4_compatible=True)
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))


def test_user_mmdb_files_add_city_and_as_number(tmp_path: Path) -> None:
    """GeoLite2-shaped City and ASN databases, written by the test."""
    city, asn = tmp_path / "city.mmdb", tmp_path / "asn.mmdb"
    _write_mmdb(
        city,
        "GeoLite2-City",
        {
            "81.2.69.0/24": {
                "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                "city": {"names": {"en": "London"}},
                "location": {"latitude": 51.5, "longitude": -0.12},
            }
        },
    )
    _write_mmdb(
        asn,
        "GeoLite2-ASN",
        {
            "81.2.69.0/24": {
                "autonomous_system_number": 20712,
                "autonomous_system_organization": "Andrews & Arnold Ltd",
            },
            "8.8.8.0/24": {
                "autonomous_system_number": 15169,
                "autonomous_system_organization": "GOOGLE",
            },
        },
    )
    out = columns(GeoLookup(str(city), str(asn)), ["81.2.69.160", "8.8.8.8", "10.0.0.1"])
    assert out["country"] == ["GB", "US", None]  # the bundled data fills what the .mmdb lacks
    assert out["asn"] == [20712, 15169, None]
    assert out["org"] == ["Andrews & Arnold Ltd", "GOOGLE", None]
    lookup = GeoLookup(str(city), str(asn))
    arr = pa.array(["81.2.69.160"])
    parsed = parse_addresses(arr)
    assert lookup.columns(arr, parsed, is_public(parsed)).city.to_pylist() == ["London"]
