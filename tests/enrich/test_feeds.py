"""Managed feeds: the ``[feeds.NAME]`` tables of trailguard.toml, refresh durations,
``IntelManager.sync_feeds``, and ``trailguard intel update`` adding then refreshing feeds
served from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard import settings
from trailguard.cli import app
from trailguard.enrich.feeds import DEFAULT_REFRESH_SECONDS, load_feeds, parse_duration
from trailguard.enrich.intel import IntelManager
from trailguard.enrich.lists import ListSpec
from trailguard.errors import ConfigError
from trailguard.findings.intel_store import IntelStore
from trailguard.findings.store import Store
from trailguard.sources.fetch import fetch

TOR = b"# tor exits\n185.220.101.1\n185.220.101.2\n2a0b:f4c2::1\n"
TOR_V2 = TOR + b"185.220.101.3\n"
T0 = 1_790_000_000.0


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No developer config or store: settings from a fresh working directory only."""
    for s in settings.SETTINGS:
        monkeypatch.delenv(f"TRAILGUARD_{s.name.upper()}", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trailguard.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (60, 60),
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("6h", 21600),
        ("1d", 86400),
        (" 2 h ", 7200),
    ],
)
def test_parse_duration(value: str | int, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, 59, "59s", -5, "1.5h", "1w", "soon", "", "h", True])
def test_parse_duration_rejects(value: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


# --- the config tables ------------------------------------------------------------------


def test_load_feeds_top_level(tmp_path: Path) -> None:
    config(
        tmp_path,
        """
[feeds.tor-exits]
url = "https://check.torproject.org/torbulkexitlist"
format = "TXT"
category = "tor"
refresh = "1h"

[feeds.office]
url = "s3://corp-intel/allow.txt"
kind = "trusted"

[feeds.aws]
url = "https://ip-ranges.amazonaws.com/ip-ranges.json"
kind = "aws"
refresh = 86400

[feeds.hits]
url = "https://intel.example.com/hits.csv"
format = "csv"
column = "indicator"
category = "c2"
""",
    )
    specs = {s.name: s for s in load_feeds()}
    assert list(specs) == ["tor-exits", "office", "aws", "hits"]
    assert specs["tor-exits"] == ListSpec(
        "tor-exits",
        "https://check.torproject.org/torbulkexitlist",
        "threat",
        "tor",
        "TXT",
        None,
        True,
        3600,
    )
    office = specs["office"]
    assert (office.kind, office.category, office.format) == ("trusted", "", "AUTO")
    assert office.refresh_seconds == DEFAULT_REFRESH_SECONDS and office.feed
    assert (specs["aws"].format, specs["aws"].refresh_seconds) == ("AWS_IP_RANGES", 86400)
    assert (specs["hits"].format, specs["hits"].csv_column) == ("CSV", "indicator")


def test_load_feeds_under_trailguard(tmp_path: Path) -> None:
    config(
        tmp_path,
        """
[trailguard]
batch_rows = 1000

[trailguard.feeds.tor]
url = "https://check.torproject.org/torbulkexitlist"
category = "tor"
refresh = "30m"
""",
    )
    [spec] = load_feeds()
    assert (spec.name, spec.category, spec.refresh_seconds) == ("tor", "tor", 1800)
    assert settings.load_config()["batch_rows"] == 1000  # the feeds table is no setting


def test_load_feeds_explicit_path_and_none(tmp_path: Path) -> None:
    assert load_feeds() == []
    other = tmp_path / "elsewhere.toml"
    other.write_text('[feeds.x]\nurl = "https://intel.example.com/x.txt"\n')
    assert [s.name for s in load_feeds(other)] == ["x"]
    config(tmp_path, "[trailguard]\nbatch_rows = 10\n")
    assert load_feeds() == []


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ('url = "https://x.example/l.txt"\ncolour = "red"', "colour"),
        ('url = "https://x.example/l.txt"\nrefresh = "sometimes"', "refresh"),
        ('url = "https://x.example/l.txt"\nrefresh = "10s"', "refresh"),
        ('url = "https://x.example/l.txt"\nrefresh = 1.5', "refresh"),
        ('url = "https://x.example/l.txt"\nrefresh = true', "refresh"),
        ('url = "https://x.example/l.txt"\nkind = "allow"', "kind must be one of"),
        ('url = "https://x.example/l.txt"\ncategory = "spam"', "category must be one of"),
        ('url = "https://x.example/l.txt"\nformat = "yaml"', "unknown format"),
        ('url = "https://x.example/l.txt"\nformat = "CSV"', "column"),
        ('format = "TXT"', "url"),
        ('url = ""', "url"),
        ("url = 5", "url"),
    ],
)
def test_load_feeds_bad_values(tmp_path: Path, body: str, text: str) -> None:
    path = config(tmp_path, f"[feeds.bad-feed]\n{body}\n")
    with pytest.raises(ConfigError, match=text) as info:
        load_feeds()
    message = str(info.value)
    assert str(path) in message
    assert "feeds.bad-feed" in message


@pytest.mark.parametrize(
    "text",
    [
        'feeds = "https://x.example/l.txt"\n',
        'feeds = ["a"]\n',
        "[feeds]\nx = 1\n",
        '[feeds."bad name"]\nurl = "https://x.example/l.txt"\n',
        "[feeds\n",
    ],
)
def test_load_feeds_bad_shapes(tmp_path: Path, text: str) -> None:
    path = config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_feeds()
    assert str(path) in str(info.value)


# --- sync_feeds -------------------------------------------------------------------------


@dataclass
class FeedServer:
    port: int = 0
    docs: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, etag)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # path, If-None-Match

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False


@pytest.fixture
def server() -> Iterator[FeedServer]:
    state = FeedServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            inm = self.headers.get("If-None-Match")
            state.requests.append((self.path, inm))
            if self.path not in state.docs:
                self.send_error(404)
                return
            body, etag = state.docs[self.path]
            if inm == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = _Server(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "feeds.db")
    try:
        yield s
    finally:
        s.close()


def _feed(url: str, refresh: int = 3600, **kw: str) -> ListSpec:
    return ListSpec("tor", url, category="tor", feed=True, refresh_seconds=refresh, **kw).check()


def test_sync_feeds(store: Store, server: FeedServer) -> None:
    now = [T0]
    intel = IntelStore(store)
    manager = IntelManager(intel, fetch, clock=lambda: now[0])
    server.docs["/tor.txt"] = (TOR, '"t1"')
    url = server.url("/tor.txt")
    [added] = manager.sync_feeds([_feed(url)])
    assert (added.outcome, added.entries) == ("added", 3)
    meta = intel.get("tor")
    assert meta is not None
    assert (meta.feed, meta.refresh_seconds, meta.category, meta.etag) == (
        True,
        3600,
        "tor",
        '"t1"',
    )
    # already there, same source: nothing fetched (updates are update()'s job)
    assert manager.sync_feeds([_feed(url)]) == []
    assert server.count("/tor.txt") == 1
    # the config's refresh changed: stored, without a change record, and fetched only once
    now[0] += 10
    [changed] = manager.sync_feeds([_feed(url, refresh=600)])
    assert changed.outcome == "unchanged"
    meta = intel.get("tor")
    assert meta is not None and meta.refresh_seconds == 600
    assert manager.sync_feeds([_feed(url, refresh=600)]) == []
    assert server.count("/tor.txt") == 2
    assert len(intel.changes("tor")) == 1
    # the URL changed: the new source's content replaces the old
    server.docs["/tor2.txt"] = (TOR_V2, '"t2"')
    [moved] = manager.sync_feeds([_feed(server.url("/tor2.txt"), refresh=600)])
    assert (moved.outcome, moved.entries) == ("replaced", 4)
    assert [c.change for c in intel.changes("tor")] == ["replaced", "added"]


def test_sync_feeds_failure_is_reported(store: Store, server: FeedServer) -> None:
    intel = IntelStore(store)
    manager = IntelManager(intel, fetch, clock=lambda: T0)
    [failed] = manager.sync_feeds([_feed(server.url("/missing.txt"))])
    assert failed.outcome == "failed" and "HTTP 404" in failed.message
    assert intel.get("tor") is None


# --- intel update with a config file ----------------------------------------------------


def test_intel_update_adds_then_refreshes_configured_feeds(
    tmp_path: Path, server: FeedServer
) -> None:
    server.docs["/tor.txt"] = (TOR, '"t1"')
    server.docs["/allow.txt"] = (b"192.0.2.10\n", '"a1"')
    config(
        tmp_path,
        f"""
[trailguard]
db = "{(tmp_path / "cfg.db").as_posix()}"

[trailguard.feeds.tor]
url = "{server.url("/tor.txt")}"
category = "tor"
refresh = "1h"

[trailguard.feeds.allow]
url = "{server.url("/allow.txt")}"
kind = "trusted"
""",
    )
    runner = CliRunner()
    db = str(tmp_path / "intel.db")
    first = runner.invoke(app, ["intel", "update", "--db", db])
    assert first.exit_code == 0, first.output
    assert "tor: added (3 entries)" in first.output
    assert "allow: added (1 entries)" in first.output
    assert server.count("/tor.txt") == 1  # a feed just added is not fetched again
    store = Store.open(db)
    try:
        lists = {m.name: m for m in IntelStore(store).lists()}
    finally:
        store.close()
    assert set(lists) == {"tor", "allow"}
    assert (lists["tor"].category, lists["tor"].feed, lists["tor"].refresh_seconds) == (
        "tor",
        True,
        3600,
    )
    assert lists["allow"].kind == "trusted"
    # not due yet: nothing fetched
    second = runner.invoke(app, ["intel", "update", "--db", db])
    assert second.exit_code == 0, second.output
    assert "tor: not due" in second.output
    assert server.count("/tor.txt") == 1
    # forced: conditional requests, the feed changed, the allow list did not
    server.docs["/tor.txt"] = (TOR_V2, '"t2"')
    third = runner.invoke(app, ["intel", "update", "--force", "--db", db])
    assert third.exit_code == 0, third.output
    assert "tor: replaced (4 entries)" in third.output
    assert "allow: not-modified (1 entries)" in third.output
    assert ("/allow.txt", '"a1"') in server.requests
    assert ("/tor.txt", '"t1"') in server.requests
    # a named feed is re-fetched whether due or not
    fourth = runner.invoke(app, ["intel", "update", "tor", "--db", db])
    assert fourth.exit_code == 0, fourth.output
    assert "tor: not-modified" in fourth.output and "allow" not in fourth.output
    assert not (tmp_path / "cfg.db").exists()  # --db wins over the config file


def test_intel_update_named_feed_not_yet_added(tmp_path: Path, server: FeedServer) -> None:
    server.docs["/tor.txt"] = (TOR, '"t1"')
    config(tmp_path, f'[feeds.tor]\nurl = "{server.url("/tor.txt")}"\ncategory = "tor"\n')
    db = str(tmp_path / "intel.db")
    result = CliRunner().invoke(app, ["intel", "update", "tor", "--db", db])
    assert result.exit_code == 0, result.output
    assert "tor: added (3 entries)" in result.output
    assert server.count("/tor.txt") == 1


def test_intel_update_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    path = config(tmp_path, '[feeds.tor]\nurl = "https://x.example/t.txt"\nrefresh = "often"\n')
    result = CliRunner().invoke(app, ["intel", "update", "--db", str(tmp_path / "i.db")])
    assert result.exit_code == 2
    assert "feeds.tor" in result.output and path.name in result.output


def test_intel_update_failing_feed_exit_4(tmp_path: Path, server: FeedServer) -> None:
    config(tmp_path, f'[feeds.gone]\nurl = "{server.url("/gone.txt")}"\n')
    result = CliRunner().invoke(app, ["intel", "update", "--db", str(tmp_path / "i.db")])
    assert result.exit_code == 4
    assert "gone: failed" in result.output and "HTTP 404" in result.output


def test_a_feed_dropped_from_the_config_is_kept_and_named(
    tmp_path: Path, server: FeedServer
) -> None:
    server.docs["/tor.txt"] = (TOR, '"t1"')
    path = config(tmp_path, f'[feeds.tor]\nurl = "{server.url("/tor.txt")}"\ncategory = "tor"\n')
    db = str(tmp_path / "intel.db")
    runner = CliRunner()
    assert runner.invoke(app, ["intel", "update", "--db", db]).exit_code == 0
    path.write_text("")  # the feed is gone from the config
    result = runner.invoke(app, ["intel", "update", "--db", db])
    assert result.exit_code == 0, result.output
    assert "feed tor is no longer in the config file" in result.output
    store = Store.open(db)
    try:
        assert IntelStore(store).get("tor") is not None
    finally:
        store.close()


def test_a_relative_feed_path_is_read_beside_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "lists").mkdir()
    (folder / "lists" / "bad.txt").write_text("198.51.100.1\n")
    path = config(folder, '[feeds.local]\nurl = "lists/bad.txt"\n')
    (spec,) = load_feeds(path)
    assert spec.location == str(folder / "lists" / "bad.txt")
    (remote,) = load_feeds(config(folder, '[feeds.r]\nurl = "https://x.example/l.txt"\n'))
    assert remote.location == "https://x.example/l.txt"
