"""Settings: one table; command line > environment > config file > defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from trailguard import settings
from trailguard.errors import ConfigError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No TRAILGUARD_* variables; user dirs and the working directory under tmp_path."""
    for s in settings.SETTINGS:
        monkeypatch.delenv(f"TRAILGUARD_{s.name.upper()}", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def user_config(tmp_path: Path) -> Path:
    path = tmp_path / "xdg-config" / "trailguard" / "trailguard.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --- the table ------------------------------------------------------------------------


def test_every_setting_has_a_help_text_and_a_typed_default() -> None:
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert settings.BY_NAME.keys() == set(names)
    for s in settings.SETTINGS:
        assert s.help.strip(), s.name
        assert s.default is None or isinstance(s.default, s.type), s.name


def test_defaults_without_anything_set() -> None:
    assert settings.get("batch_rows") == 65_536
    assert settings.get("window_retention_hours") == 48
    assert settings.get("rules") == []
    assert settings.get("endpoint_url") is None


# --- the database: precedence ---------------------------------------------------------


def test_db_default_is_in_the_user_data_dir(tmp_path: Path) -> None:
    expected = tmp_path / "xdg-data" / "trailguard" / "trailguard.db"
    assert settings.default_db_path() == expected
    assert settings.resolve_db(None) == str(expected)


def test_db_from_the_user_config_file(tmp_path: Path) -> None:
    user_config(tmp_path).write_text('db = "/srv/user-config.db"\n', encoding="utf-8")
    assert settings.resolve_db(None) == "/srv/user-config.db"


def test_db_from_the_config_file_in_the_working_dir(tmp_path: Path, isolated: Path) -> None:
    user_config(tmp_path).write_text('db = "/srv/user-config.db"\n', encoding="utf-8")
    (isolated / "trailguard.toml").write_text('db = "/srv/cwd.db"\n', encoding="utf-8")
    assert settings.resolve_db(None) == "/srv/cwd.db"


def test_db_from_the_environment(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "trailguard.toml").write_text('db = "/srv/cwd.db"\n', encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_DB", "/srv/env.db")
    assert settings.resolve_db(None) == "/srv/env.db"


def test_db_from_the_command_line(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "trailguard.toml").write_text('db = "/srv/cwd.db"\n', encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_DB", "/srv/env.db")
    assert settings.resolve_db("/srv/cli.db") == "/srv/cli.db"


def test_empty_environment_variable_is_unset(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated / "trailguard.toml").write_text('db = "/srv/cwd.db"\n', encoding="utf-8")
    monkeypatch.setenv("TRAILGUARD_DB", "")
    assert settings.resolve_db(None) == "/srv/cwd.db"


def test_config_given_explicitly_replaces_the_file(isolated: Path) -> None:
    (isolated / "trailguard.toml").write_text('db = "/srv/cwd.db"\n', encoding="utf-8")
    assert settings.resolve_db(None, {"db": "/srv/given.db"}) == "/srv/given.db"
    assert settings.resolve_db(None, {}).endswith("trailguard.db")
    assert settings.resolve_db(None, {}) != "/srv/cwd.db"


def test_trailguard_section_in_the_config_file(isolated: Path) -> None:
    (isolated / "trailguard.toml").write_text(
        '[trailguard]\ndb = "/srv/section.db"\nbatch_rows = 10\nrules = ["a", "b"]\n'
        "\n[trailguard.feeds]\nurl = 'later'\n",
        encoding="utf-8",
    )
    assert settings.load_config() == {
        "db": "/srv/section.db",
        "batch_rows": 10,
        "rules": ["a", "b"],
    }
    assert settings.get("batch_rows") == 10
    assert settings.get("rules") == ["a", "b"]


def test_other_sections_are_left_for_later_features(isolated: Path) -> None:
    (isolated / "trailguard.toml").write_text(
        'db = "/srv/x.db"\n[feeds]\nurl = "https://example.com/list"\n', encoding="utf-8"
    )
    assert settings.load_config() == {"db": "/srv/x.db"}


# --- other settings through the same path ---------------------------------------------


def test_int_setting_precedence(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "trailguard.toml").write_text("batch_rows = 100\n", encoding="utf-8")
    assert settings.get("batch_rows") == 100
    monkeypatch.setenv("TRAILGUARD_BATCH_ROWS", "200")
    assert settings.get("batch_rows") == 200
    assert settings.get("batch_rows", 300) == 300


def test_int_environment_variable_must_be_an_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_BATCH_ROWS", "lots")
    with pytest.raises(ConfigError, match="TRAILGUARD_BATCH_ROWS"):
        settings.get("batch_rows")


def test_list_environment_variable_splits_on_pathsep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_RULES", os.pathsep.join(["/r/one", "", "/r/two"]))
    assert settings.get("rules") == ["/r/one", "/r/two"]
    assert settings.get("rules", ["/cli"]) == ["/cli"]
    # an empty list from the command line means "not given"
    assert settings.get("rules", []) == ["/r/one", "/r/two"]


# --- errors name the file and the key -------------------------------------------------


def write_config(where: Path, text: str) -> Path:
    path = where / "trailguard.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_toml_names_the_file_and_line(isolated: Path) -> None:
    path = write_config(isolated, 'db = "/srv/x.db"\nbatch_rows = = 3\n')
    with pytest.raises(ConfigError) as info:
        settings.load_config()
    assert str(path) in str(info.value)
    assert "line 2" in str(info.value)


def test_bad_toml_in_the_user_config_names_that_file(tmp_path: Path) -> None:
    path = user_config(tmp_path)
    path.write_text("db = [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        settings.resolve_db(None)


def test_unreadable_config_is_a_config_error(isolated: Path) -> None:
    (isolated / "trailguard.toml").write_bytes(b'db = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match=re.escape("trailguard.toml")):
        settings.load_config()


def test_unknown_key_names_the_file_and_key(isolated: Path) -> None:
    path = write_config(isolated, 'db = "/srv/x.db"\nbatch_size = 10\n')
    with pytest.raises(ConfigError) as info:
        settings.load_config()
    assert str(path) in str(info.value)
    assert "batch_size" in str(info.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('batch_rows = "many"', "batch_rows"),
        ("batch_rows = 1.5", "batch_rows"),
        ("batch_rows = true", "batch_rows"),
        ("max_decompressed_bytes = [1]", "max_decompressed_bytes"),
        ("db = 3", "db"),
        ("db = { path = 'x' }", "db"),
        ("endpoint_url = false", "endpoint_url"),
        ('rules = "one-folder"', "rules"),
        ('rules = ["ok", 3]', "rules"),
        ('[trailguard]\nwindow_retention_hours = "2d"', "window_retention_hours"),
    ],
)
def test_wrong_type_names_the_file_and_key(isolated: Path, text: str, key: str) -> None:
    path = write_config(isolated, text + "\n")
    with pytest.raises(ConfigError) as info:
        settings.load_config()
    assert str(path) in str(info.value)
    assert key in str(info.value)


def test_errors_are_raised_through_get(isolated: Path) -> None:
    write_config(isolated, "batch_rows = 'x'\n")
    with pytest.raises(ConfigError, match="batch_rows"):
        settings.get("batch_rows")
    with pytest.raises(ConfigError, match="batch_rows"):
        settings.resolve_db(None)


def test_trailguard_key_that_is_not_a_table_is_a_config_error(isolated: Path) -> None:
    write_config(isolated, "trailguard = 5\n")
    with pytest.raises(ConfigError, match="trailguard"):
        settings.load_config()


def test_explicit_config_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('db = "/srv/explicit.db"\n', encoding="utf-8")
    assert settings.load_config(path) == {"db": "/srv/explicit.db"}
    assert settings.load_config(tmp_path / "missing.toml") == {}


def test_config_paths_are_cwd_then_user_config(tmp_path: Path, isolated: Path) -> None:
    assert settings.config_paths() == [
        isolated / "trailguard.toml",
        tmp_path / "xdg-config" / "trailguard" / "trailguard.toml",
    ]


def test_sizes_read_as_duckdb_reads_them() -> None:
    assert settings.size_bytes("engine_memory", "512MB") == 512_000_000
    assert settings.size_bytes("engine_memory", "1GiB") == 1 << 30
    assert settings.size_bytes("engine_memory", " 1.5 gb ") == 1_500_000_000
    assert settings.size_bytes("engine_memory", "4096") == 4096
    with pytest.raises(ConfigError, match="engine_memory must be a size"):
        settings.size_bytes("engine_memory", "lots")
