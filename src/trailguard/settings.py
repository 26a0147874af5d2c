"""The one settings table: each setting's name, type, default and help live here only.

Values come, in order of precedence, from command-line options, environment
variables (``TRAILGUARD_<NAME>`` upper-cased), the config file
(``trailguard.toml`` in the working directory, else in the user's config
directory), then these defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import platformdirs

from trailguard.errors import ConfigError

APP: Final = "trailguard"
CONFIG_NAME: Final = "trailguard.toml"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    minimum: int = 1


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        "db",
        str,
        None,
        "Findings store: a SQLite file path or a SQLAlchemy URL. Default: "
        "trailguard.db in the user's data directory.",
    ),
    Setting("batch_rows", int, 65_536, "Rows per record batch handed to the detections."),
    Setting(
        "max_decompressed_bytes",
        int,
        4 * 1024**3,
        "Largest size one object may decompress to; beyond it the object is rejected "
        "as a decompression bomb.",
    ),
    Setting(
        "window_retention_hours",
        int,
        48,
        "How long (in event time) the state of windowed detections is kept.",
    ),
    Setting("rules", list, [], "Folders of extra rules (Sigma .yml or Python .py) to load."),
    Setting(
        "flow_format",
        str,
        None,
        "Field list (AWS ${field} syntax) for header-less flow logs not in the default format.",
    ),
    Setting("endpoint_url", str, None, "S3 endpoint URL (for S3-compatible stores or testing)."),
    Setting(
        "engine_memory",
        str,
        "512MB",
        "Memory DuckDB may use for windowed detections (e.g. 512MB, 1GiB). Their state "
        "may fill half of it; beyond that, the time partitions used least recently are "
        "written to files in a temporary folder and read back when needed (slower, but "
        "memory stays bounded).",
    ),
    Setting(
        "geoip_city_mmdb",
        str,
        None,
        "A MaxMind GeoLite2/GeoIP2 City .mmdb file, for city and coordinates of public "
        "addresses (the bundled database has country and AS organisation only).",
    ),
    Setting(
        "geoip_asn_mmdb",
        str,
        None,
        "A MaxMind GeoLite2/GeoIP2 ASN .mmdb file, for AS numbers of public addresses.",
    ),
    Setting(
        "workers",
        int,
        None,
        "Reader processes for JSON logs and S3 objects (0: read in the main process). "
        "Default: one per CPU.",
        minimum=0,
    ),
    Setting("posture_concurrency", int, 8, "AWS calls trailguard posture makes at once."),
    Setting(
        "posture_max_attempts",
        int,
        8,
        "Attempts per AWS call of trailguard posture (throttling is retried with backoff).",
    ),
    Setting(
        "keep_forever_buckets",
        list,
        [],
        "Buckets whose data is never deleted (MFA delete required, no lifecycle expiry).",
    ),
    Setting(
        "keep_forever_tag",
        str,
        "trailguard:keep-forever",
        "Bucket tag that marks a bucket keep-forever when its value is true.",
    ),
    Setting(
        "undelete_window_days",
        int,
        30,
        "Days noncurrent versions must be kept before a lifecycle rule expires them.",
    ),
    Setting(
        "database_ports",
        list,
        [
            *("1433", "1521", "2483", "2484", "3306", "5432", "5984", "6379", "7000", "7001"),
            *("8086", "8529", "9042", "9200", "9300", "11211", "27017", "27018", "27019"),
            *("28017", "50000"),
        ],
        "Database and cache ports that must not be open to the internet.",
    ),
    Setting(
        "environment_tag",
        str,
        "Environment",
        "Tag naming a resource's environment (production or not).",
    ),
    Setting(
        "production_values",
        list,
        ["prod", "production"],
        "Values of environment_tag that mean production (case-insensitive).",
    ),
)
BY_NAME: Final = {s.name: s for s in SETTINGS}


def config_paths() -> list[Path]:
    return [Path.cwd() / CONFIG_NAME, Path(platformdirs.user_config_dir(APP)) / CONFIG_NAME]


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Values from the config file (the first that exists), checked against the table."""
    candidates = [path] if path else config_paths()
    for p in candidates:
        if p.is_file():
            return _parse(p)
    return {}


def load_section(name: str, path: Path | None = None) -> tuple[Path | None, dict[str, Any]]:
    """A table of the config file other than the settings (``[feeds]``, ...), and its file.

    The table may be at the top level or inside ``[trailguard]``.
    """
    candidates = [path] if path else config_paths()
    for p in candidates:
        if p.is_file():
            data = _read(p)
            inner = data.get("trailguard")
            table = data.get(name, inner.get(name) if isinstance(inner, dict) else None)
            if table is None:
                return p, {}
            if not isinstance(table, dict):
                raise ConfigError(f"{p}: [{name}] must be a table")
            return p, table
    return None, {}


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _parse(path: Path) -> dict[str, Any]:
    data = _read(path)
    section = data.get("trailguard", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [trailguard] must be a table of settings")
    out: dict[str, Any] = {}
    for key, value in section.items():
        s = BY_NAME.get(key)
        if s is None:
            if isinstance(value, dict):
                continue  # other sections (feeds, ...) belong to later features
            raise ConfigError(f"{path}: unknown setting {key!r}")
        if s.type is int and (
            isinstance(value, bool) or not isinstance(value, int) or value < s.minimum
        ):
            raise ConfigError(f"{path}: {key} must be an integer >= {s.minimum}, not {value!r}")
        if s.type is str and not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, not {value!r}")
        if s.type is list and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(f"{path}: {key} must be a list of strings")
        out[key] = value
    return out


def get(name: str, cli_value: Any = None, config: dict[str, Any] | None = None) -> Any:
    """Resolve one setting: command line, then environment, then config file, then default."""
    s = BY_NAME[name]
    if cli_value is not None and cli_value != [] and cli_value != ():
        return cli_value
    env = os.environ.get(f"TRAILGUARD_{name.upper()}")
    if env:
        if s.type is int:
            try:
                return int(env)
            except ValueError:
                raise ConfigError(f"TRAILGUARD_{name.upper()} must be an integer") from None
        if s.type is list:
            return [v for v in env.split(os.pathsep) if v]
        return env
    cfg = load_config() if config is None else config
    if name in cfg:
        return cfg[name]
    return s.default


def size_bytes(name: str, text: str) -> int:
    """A size setting in bytes, as DuckDB reads sizes: ``512MB`` (powers of 1000),
    ``1GiB`` (of 1024), or a number of bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", text, re.IGNORECASE)
    if m is None:
        raise ConfigError(f"{name} must be a size such as 512MB or 1GiB, not {text!r}")
    number, unit, binary = m.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " kmgt".index(unit.lower() or " "))


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "trailguard.db"


def resolve_db(cli_value: str | None, config: dict[str, Any] | None = None) -> str:
    """``--db``, then ``TRAILGUARD_DB``, then the config file, then the user's data dir."""
    value = get("db", cli_value, config)
    return str(value) if value else str(default_db_path())
