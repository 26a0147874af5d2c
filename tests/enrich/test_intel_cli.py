"""``trailguard intel add|list|show|remove|update`` through the real CLI, on SQLite stores:
output, ``--format json``, exit codes (0 ok, 2 usage or configuration, 4 fetch or parse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from trailguard import settings
from trailguard.cli import app
from trailguard.enrich.intel import CHANGE_TYPE
from trailguard.findings.store import FindingFilter, Store

THREATS = "# threats\n198.51.100.7\nnot an address!\n203.0.113.0/24\n999.1.1.1\nevil.example.com\n"
HTML = "<html>\n<head><title>Login</title></head>\n<body>Please sign in</body>\n</html>\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for s in settings.SETTINGS:
        monkeypatch.delenv(f"TRAILGUARD_{s.name.upper()}", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "intel.db")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["intel", *args])


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def listed(db: str) -> dict[str, dict[str, Any]]:
    result = run("list", "--db", db, "--format", "json")
    assert result.exit_code == 0, result.output
    return {doc["name"]: doc for doc in json.loads(result.stdout)}


def change_findings(db: str) -> list[dict[str, Any]]:
    store = Store.open(db)
    try:
        return store.list_findings(FindingFilter(types=[CHANGE_TYPE]))
    finally:
        store.close()


def test_add_list_show_remove(tmp_path: Path, db: str) -> None:
    where = write(tmp_path, "bad.txt", THREATS)
    added = run("add", "bad", where, "--category", "c2", "--db", db)
    assert added.exit_code == 0, added.output
    assert "bad: added (3 entries, 2 bad lines)" in added.stdout
    assert "line 3: " in added.stdout and "line 5: " in added.stdout

    docs = listed(db)
    assert set(docs) == {"bad"}
    doc = docs["bad"]
    assert (doc["kind"], doc["category"], doc["format"], doc["entries"], doc["bad_lines"]) == (
        "threat",
        "c2",
        "TXT",
        3,
        2,
    )
    assert doc["location"] == where and doc["last_error"] is None
    assert doc["refreshed_at"].endswith("Z")

    table = run("list", "--db", db)
    assert table.exit_code == 0
    assert "bad" in table.stdout and "c2" in table.stdout and "TXT" in table.stdout

    shown = run("show", "bad", "--db", db)
    assert shown.exit_code == 0, shown.output
    assert "entries: 3" in shown.stdout
    assert "bad line 3: " in shown.stdout and "not an address!" in shown.stdout
    assert "bad line 5: " in shown.stdout and "999.1.1.1" in shown.stdout
    assert "added (3 entries, by cli)" in shown.stdout

    as_json = run("show", "bad", "--db", db, "--format", "json")
    assert as_json.exit_code == 0
    doc = json.loads(as_json.stdout)
    assert [b["line"] for b in doc["bad_examples"]] == [3, 5]
    assert doc["bad_examples"][0]["text"] == "not an address!"
    assert [c["change"] for c in doc["changes"]] == ["added"]
    assert doc["changes"][0]["entries"] == 3

    limited = run("show", "bad", "--db", db, "--bad", "1", "--format", "json")
    assert [b["line"] for b in json.loads(limited.stdout)["bad_examples"]] == [3]

    removed = run("remove", "bad", "--db", db)
    assert removed.exit_code == 0, removed.output
    assert "bad: removed" in removed.stdout
    assert listed(db) == {}
    [finding] = change_findings(db)
    assert finding["service"]["count"] == 2
    assert finding["resource"]["intelListDetails"]["name"] == "bad"
    assert finding["service"]["action"]["intelListChangeAction"]["change"] == "removed"

    assert run("remove", "bad", "--db", db).exit_code == 2
    missing = run("show", "bad", "--db", db)
    assert missing.exit_code == 2
    assert "no intel list named 'bad'" in missing.output


def test_replace_and_history(tmp_path: Path, db: str) -> None:
    where = write(tmp_path, "l.txt", "198.51.100.7\n")
    assert run("add", "l", where, "--db", db).exit_code == 0
    dup = run("add", "l", where, "--db", db)
    assert dup.exit_code == 2 and "exists" in dup.output
    write(tmp_path, "l.txt", "198.51.100.7\n198.51.100.8\n")
    replaced = run("add", "l", where, "--replace", "--kind", "trusted", "--db", db)
    assert replaced.exit_code == 0, replaced.output
    assert "l: replaced (2 entries)" in replaced.stdout
    shown = run("show", "l", "--db", db)
    lines = [line for line in shown.stdout.splitlines() if "by cli" in line]
    assert len(lines) == 2
    assert "replaced (1 -> 2 entries" in lines[0] and "added (1 entries, by cli)" in lines[1]
    [finding] = change_findings(db)
    assert finding["severity"] == 3.0  # now a trusted list
    assert finding["service"]["count"] == 2


def test_add_aws_ranges(tmp_path: Path, db: str) -> None:
    doc = {
        "syncToken": "1761234567",
        "createDate": "2026-10-23-15-49-27",
        "prefixes": [
            {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "S3"},
            {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON"},
        ],
        "ipv6_prefixes": [
            {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2"}
        ],
    }
    where = write(tmp_path, "ip-ranges.json", json.dumps(doc))
    result = run("add", "aws", where, "--kind", "aws", "--db", db)
    assert result.exit_code == 0, result.output
    got = listed(db)["aws"]
    assert (got["kind"], got["format"], got["entries"], got["category"]) == (
        "aws",
        "AWS_IP_RANGES",
        3,
        "",
    )


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["add", "bad name", "{list}"], "list name"),
        (["add", "l", "{list}", "--kind", "evil"], "kind"),
        (["add", "l", "{list}", "--category", "spam"], "category"),
        (["add", "l", "{list}", "--format", "yaml"], "unknown format"),
        (["add", "l", "{list}", "--format", "csv"], "--column"),
        (["add", "l", "{list}", "--refresh", "often"], "--refresh"),
        (["add", "l", "{list}", "--refresh", "10s"], "--refresh"),
        (["list", "--format", "xml"], "table, json"),
        (["show", "nope"], "no intel list"),
        (["remove", "nope"], "no intel list"),
        (["update", "nope"], "nope"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, db: str, args: list[str], text: str) -> None:
    where = write(tmp_path, "l.txt", "198.51.100.7\n")
    result = run(*(a.replace("{list}", where) for a in args), "--db", db)
    assert result.exit_code == 2, result.output
    assert text in result.output
    assert listed(db) == {}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.txt", None, "cannot read"),
        ("page.html", HTML, "format"),
        ("empty.txt", "# nothing\n", "no usable entries"),
    ],
)
def test_unreadable_lists_exit_4(
    tmp_path: Path, db: str, name: str, text: str | None, message: str
) -> None:
    where = write(tmp_path, name, text) if text is not None else str(tmp_path / name)
    result = run("add", "l", where, "--db", db)
    assert result.exit_code == 4, result.output
    assert message in result.output
    assert listed(db) == {}
    assert change_findings(db) == []


def test_update_failure_keeps_the_list(tmp_path: Path, db: str) -> None:
    where = write(tmp_path, "l.txt", "198.51.100.7\n203.0.113.9\n")
    assert run("add", "l", where, "--refresh", "1h", "--db", db).exit_code == 0
    Path(where).unlink()
    result = run("update", "l", "--db", db)
    assert result.exit_code == 4
    assert "l: failed" in result.output and "cannot read" in result.output
    doc = listed(db)["l"]
    assert doc["entries"] == 2 and "cannot read" in doc["last_error"]
    shown = run("show", "l", "--db", db, "--format", "json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["last_error"] == doc["last_error"]
    # the file is back, changed: replaced, and the error is cleared
    write(tmp_path, "l.txt", "198.51.100.7\n")
    again = run("update", "l", "--db", db)
    assert again.exit_code == 0, again.output
    assert "l: replaced (1 entries)" in again.stdout
    assert listed(db)["l"]["last_error"] is None


def test_update_nothing_due(tmp_path: Path, db: str) -> None:
    where = write(tmp_path, "l.txt", "198.51.100.7\n")
    assert run("add", "l", where, "--db", db).exit_code == 0
    result = run("update", "--db", db)
    assert result.exit_code == 0, result.output
    assert "l: not due (1 entries)" in result.stdout
    forced = run("update", "--force", "--db", db)
    assert forced.exit_code == 0
    assert "l: unchanged (1 entries)" in forced.stdout
    assert [f["service"]["count"] for f in change_findings(db)] == [1]


def test_db_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "trailguard.toml").write_text('db = "from-config.db"\n')
    where = write(tmp_path, "l.txt", "198.51.100.7\n")
    assert run("add", "l", where).exit_code == 0
    assert (tmp_path / "from-config.db").is_file()
    assert "l" in listed(str(tmp_path / "from-config.db"))


def test_markup_in_list_lines_is_printed_literally(tmp_path: Path, db: str) -> None:
    where = write(tmp_path, "l.txt", "198.51.100.7\n")
    assert run("add", "l", where, "--db", db).exit_code == 0
    write(tmp_path, "l.txt", "[/b] x y\n[/red] z w\n")
    result = run("update", "l", "--db", db)
    assert result.exit_code == 4, result.output
    assert "'[/b] x y'" in result.output
    added = run("add", "m", where, "--format", "TXT", "--db", db)
    assert added.exit_code == 4, added.output
    assert "[/b] x y" in added.output
    missing = run("show", "[/b]", "--db", db)
    assert missing.exit_code == 2 and "'[/b]'" in missing.output


def test_remove_history_line(tmp_path: Path, db: str) -> None:
    where = write(tmp_path, "l.txt", "198.51.100.7\n")
    assert run("add", "l", where, "--db", db).exit_code == 0
    assert run("remove", "l", "--db", db).exit_code == 0
    assert run("add", "l", where, "--db", db).exit_code == 0
    shown = run("show", "l", "--db", db)
    history = [line.split(" ", 2)[2] for line in shown.stdout.splitlines() if "by cli" in line]
    assert history == [
        "added (1 entries, by cli)",
        "removed (1 entries, by cli)",
        "added (1 entries, by cli)",
    ]


def test_add_and_update_from_s3(moto_server: str, s3_client: Any, tmp_path: Path, db: str) -> None:
    s3_client.create_bucket(Bucket="corp-intel")
    s3_client.put_object(Bucket="corp-intel", Key="allow.txt", Body=b"192.0.2.10\n")
    endpoint = ["--endpoint-url", moto_server]
    added = run(
        "add", "allow", "s3://corp-intel/allow.txt", "--kind", "trusted", "--db", db, *endpoint
    )
    assert added.exit_code == 0, added.output
    assert listed(db)["allow"]["etag"]
    same = run("update", "allow", "--db", db, *endpoint)
    assert same.exit_code == 0, same.output
    assert "allow: not-modified (1 entries)" in same.stdout
    s3_client.put_object(Bucket="corp-intel", Key="allow.txt", Body=b"192.0.2.10\n192.0.2.11\n")
    changed = run("update", "allow", "--db", db, *endpoint)
    assert "allow: replaced (2 entries)" in changed.stdout
    s3_client.delete_object(Bucket="corp-intel", Key="allow.txt")
    gone = run("update", "allow", "--db", db, *endpoint)
    assert gone.exit_code == 4 and "NoSuchKey" in gone.output
    assert listed(db)["allow"]["entries"] == 2
    [finding] = change_findings(db)
    assert (finding["severity"], finding["service"]["count"]) == (3.0, 2)
