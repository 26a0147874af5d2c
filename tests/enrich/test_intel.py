"""IntelManager on a real SQLite store, with lists served by a real HTTP server on 127.0.0.1:
add, update (not modified, changed, failing, garbage), refresh intervals, remove, the
IntelListChanged findings, and the enricher built from the stored lists."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from trailguard.enrich.intel import CHANGE_TYPE, IntelManager, load_enricher, parse
from trailguard.enrich.lists import ListSpec
from trailguard.errors import ConfigError, IntelError, SourceError
from trailguard.findings.intel_store import IntelStore
from trailguard.findings.store import FindingFilter, Store
from trailguard.sources.fetch import fetch

SAMPLES = Path(__file__).parent / "samples"
T0 = 1_790_000_000.0

THREATS = (
    b"# custom threat list\n198.51.100.7\n203.0.113.0/24\n2001:db8:bad::/48\nevil.example.com\n"
)
THREATS_V2 = THREATS + b"192.0.2.66\n"
HTML = (
    b"<!DOCTYPE html>\n<html>\n<head><title>Service Unavailable</title></head>\n<body>\n"
    b"<h1>503 Service Unavailable</h1>\n<p>Please try again later.</p>\n</body>\n</html>\n"
)
IP_RANGES = {
    "syncToken": "1761234567",
    "createDate": "2026-10-23-15-49-27",
    "prefixes": [
        {
            "ip_prefix": "3.5.140.0/22",
            "region": "ap-northeast-2",
            "service": "AMAZON",
            "network_border_group": "ap-northeast-2",
        },
        {
            "ip_prefix": "3.5.140.0/22",
            "region": "ap-northeast-2",
            "service": "S3",
            "network_border_group": "ap-northeast-2",
        },
        {
            "ip_prefix": "52.94.76.0/22",
            "region": "us-west-2",
            "service": "AMAZON",
            "network_border_group": "us-west-2",
        },
        {
            "ip_prefix": "18.208.0.0/13",
            "region": "us-east-1",
            "service": "EC2",
            "network_border_group": "us-east-1",
        },
        {
            "ip_prefix": "18.208.0.0/13",
            "region": "us-east-1",
            "service": "AMAZON",
            "network_border_group": "us-east-1",
        },
    ],
    "ipv6_prefixes": [
        {
            "ipv6_prefix": "2600:1f18::/33",
            "region": "us-east-1",
            "service": "EC2",
            "network_border_group": "us-east-1",
        },
        {
            "ipv6_prefix": "2600:1f18::/33",
            "region": "us-east-1",
            "service": "AMAZON",
            "network_border_group": "us-east-1",
        },
    ],
}


# --- a feed server on 127.0.0.1 ---------------------------------------------------------


@dataclass
class Doc:
    body: bytes
    etag: str | None = None
    status: int = 200


@dataclass
class FeedServer:
    port: int = 0
    docs: dict[str, Doc] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: Any = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gets(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False


def _handler(state: FeedServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            doc = state.docs.get(self.path)
            if doc is None or doc.status != 200:
                self.send_error(404 if doc is None else doc.status)
                return
            if doc.etag and self.headers.get("If-None-Match") == doc.etag:
                self.send_response(304)
                self.send_header("ETag", doc.etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(doc.body)))
            if doc.etag:
                self.send_header("ETag", doc.etag)
            self.end_headers()
            self.wfile.write(doc.body)

    return Handler


@pytest.fixture
def server() -> Iterator[FeedServer]:
    state = FeedServer()
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    state.stop = stop
    try:
        yield state
    finally:
        stop()


# --- the manager ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "trailguard.db")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def intel(store: Store) -> IntelStore:
    return IntelStore(store)


@pytest.fixture
def manager(intel: IntelStore, clock: Clock) -> IntelManager:
    return IntelManager(intel, lambda loc, **kw: fetch(loc, timeout=5, **kw), clock=clock)


def write(tmp_path: Path, name: str, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def change_findings(store: Store) -> list[dict[str, Any]]:
    return store.list_findings(FindingFilter(types=[CHANGE_TYPE]))


def finding_for(store: Store, name: str) -> dict[str, Any]:
    found = [f for f in change_findings(store) if f["resource"]["intelListDetails"]["name"] == name]
    assert len(found) == 1, found
    return found[0]


def ct_batch(*ips: str | None) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"eventName": ["ListBuckets"] * len(ips), "sourceIPAddress": list(ips)}
    )


# --- add --------------------------------------------------------------------------------


def test_add_file(manager: IntelManager, intel: IntelStore, store: Store, tmp_path: Path) -> None:
    where = write(tmp_path, "bad.txt", THREATS)
    result = manager.add(ListSpec("bad-ips", where))
    assert (result.outcome, result.entries, result.bad_lines) == ("added", 4, 0)
    meta = intel.get("bad-ips")
    assert meta is not None
    assert (meta.kind, meta.category, meta.format, meta.location) == (
        "threat",
        "custom",
        "TXT",
        where,
    )
    assert (meta.entries, meta.feed, meta.refresh_seconds, meta.last_error) == (
        4,
        False,
        None,
        None,
    )
    assert meta.added_at == meta.refreshed_at == meta.checked_at == int(T0 * 1000)
    assert intel.data("bad-ips") == THREATS
    [change] = intel.changes("bad-ips")
    assert (change.change, change.detail["entries"], change.detail["previousEntries"]) == (
        "added",
        4,
        None,
    )
    assert finding_for(store, "bad-ips")["service"]["count"] == 1


@pytest.mark.parametrize(
    ("kind", "category", "stored_category"),
    [
        ("threat", "custom", "custom"),
        ("threat", "tor", "tor"),
        ("threat", "mining", "mining"),
        ("threat", "c2", "c2"),
        ("trusted", "tor", ""),  # a trusted list has no category
        ("trusted", "custom", ""),
    ],
)
def test_add_kinds_and_categories(
    manager: IntelManager,
    intel: IntelStore,
    tmp_path: Path,
    kind: str,
    category: str,
    stored_category: str,
) -> None:
    manager.add(ListSpec("l1", write(tmp_path, "l.txt", THREATS), kind, category))
    meta = intel.get("l1")
    assert meta is not None
    assert (meta.kind, meta.category) == (kind, stored_category)


def test_add_aws_ranges(manager: IntelManager, intel: IntelStore, tmp_path: Path) -> None:
    where = write(tmp_path, "ip-ranges.json", json.dumps(IP_RANGES))
    result = manager.add(ListSpec("aws", where, "aws"))
    assert (result.outcome, result.entries) == ("added", 7)
    meta = intel.get("aws")
    assert meta is not None
    assert (meta.kind, meta.category, meta.format) == ("aws", "", "AWS_IP_RANGES")
    # the document is recognised under format auto as a threat list too
    assert parse(ListSpec("x", where).check(), intel.data("aws"))[1] == "AWS_IP_RANGES"


@pytest.mark.parametrize(
    ("sample", "fmt"),
    [
        ("stix1_package.xml", "STIX"),
        ("stix2_bundle.json", "STIX2"),
        ("firehol_level1.netset", "FIREHOL"),
        ("hosts.txt", "HOSTS"),
        ("adblock.txt", "ADBLOCK"),
        ("otx_pulse.csv", "OTX_CSV"),
        ("alienvault_reputation.data", "ALIEN_VAULT"),
        ("threats.txt", "TXT"),
    ],
)
def test_add_sniffs_format(manager: IntelManager, intel: IntelStore, sample: str, fmt: str) -> None:
    result = manager.add(ListSpec("s", str(SAMPLES / sample)))
    assert result.outcome == "added" and result.entries > 0
    meta = intel.get("s")
    assert meta is not None and meta.format == fmt


def test_add_csv_needs_a_column(manager: IntelManager, intel: IntelStore) -> None:
    where = str(SAMPLES / "simple_with_header.csv")
    with pytest.raises(ConfigError, match="column"):
        manager.add(ListSpec("csv", where, format="csv"))
    assert intel.get("csv") is None
    result = manager.add(ListSpec("csv", where, format="csv", csv_column="indicator"))
    assert result.outcome == "added" and result.entries >= 2
    meta = intel.get("csv")
    assert meta is not None and (meta.format, meta.csv_column) == ("CSV", "indicator")


@pytest.mark.parametrize(
    "name", ["", "a b", "../etc", "-x", ".hidden", "x" * 65, "bad/name", "tab\there", "nl\n"]
)
def test_add_bad_names(manager: IntelManager, tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="list name"):
        manager.add(ListSpec(name, write(tmp_path, "l.txt", THREATS)))


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (dict(kind="evil"), "kind must be one of"),
        (dict(category="spam"), "category must be one of"),
        (dict(format="yaml"), "unknown format"),
    ],
)
def test_add_bad_spec(
    manager: IntelManager, intel: IntelStore, tmp_path: Path, spec: dict[str, str], text: str
) -> None:
    with pytest.raises(ConfigError, match=text):
        manager.add(ListSpec("l1", write(tmp_path, "l.txt", THREATS), **spec))
    assert intel.lists() == []


def test_add_unknown_format_is_intel_error(manager: IntelManager, tmp_path: Path) -> None:
    with pytest.raises(IntelError, match="format"):
        manager.add(ListSpec("l1", write(tmp_path, "page.html", HTML)))


def test_add_missing_file(manager: IntelManager, intel: IntelStore, tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        manager.add(ListSpec("l1", str(tmp_path / "nope.txt")))
    assert intel.lists() == []


def test_add_duplicate(
    manager: IntelManager, intel: IntelStore, store: Store, tmp_path: Path
) -> None:
    manager.add(ListSpec("l1", write(tmp_path, "a.txt", THREATS)))
    with pytest.raises(ConfigError, match="exists"):
        manager.add(ListSpec("l1", write(tmp_path, "b.txt", THREATS_V2)))
    assert intel.data("l1") == THREATS
    result = manager.add(ListSpec("l1", str(tmp_path / "b.txt")), replace_existing=True)
    assert (result.outcome, result.entries) == ("replaced", 5)
    assert intel.data("l1") == THREATS_V2
    assert [c.change for c in intel.changes("l1")] == ["replaced", "added"]
    assert finding_for(store, "l1")["service"]["count"] == 2


def test_replace_with_a_new_category_is_recorded(
    manager: IntelManager, intel: IntelStore, store: Store, tmp_path: Path
) -> None:
    """Same content, different meaning: the new category must be stored and noticed."""
    where = write(tmp_path, "a.txt", THREATS)
    manager.add(ListSpec("l1", where))
    result = manager.add(ListSpec("l1", where, category="tor"), replace_existing=True)
    assert result.outcome == "replaced"
    meta = intel.get("l1")
    assert meta is not None and meta.category == "tor"
    enriched = load_enricher(intel).enrich("cloudtrail", ct_batch("198.51.100.7")).batch
    assert enriched.column("sourceIPAddress__threat_tor").to_pylist() == ["l1"]
    assert enriched.column("sourceIPAddress__threat_custom").to_pylist() == [None]
    assert finding_for(store, "l1")["service"]["count"] == 2


def test_replace_same_content_and_spec_is_unchanged(
    manager: IntelManager, intel: IntelStore, store: Store, tmp_path: Path
) -> None:
    where = write(tmp_path, "a.txt", THREATS)
    manager.add(ListSpec("l1", where))
    assert manager.add(ListSpec("l1", where), replace_existing=True).outcome == "unchanged"
    assert len(intel.changes("l1")) == 1
    assert finding_for(store, "l1")["service"]["count"] == 1


def test_add_empty_list_refused(manager: IntelManager, intel: IntelStore, tmp_path: Path) -> None:
    with pytest.raises(IntelError, match="no usable entries"):
        manager.add(ListSpec("l1", write(tmp_path, "empty.txt", b"# nothing yet\n"), format="TXT"))
    assert intel.get("l1") is None


def test_bad_lines_are_counted(manager: IntelManager, intel: IntelStore, tmp_path: Path) -> None:
    text = "198.51.100.7\nnot an address!\n203.0.113.5\n999.1.1.1\nevil.example.com\n"
    result = manager.add(ListSpec("l1", write(tmp_path, "l.txt", text), format="TXT"))
    assert (result.entries, result.bad_lines) == (3, 2)
    assert [e.split(":")[0] for e in result.bad_examples] == ["line 2", "line 4"]
    meta = intel.get("l1")
    assert meta is not None and meta.bad_lines == 2


# --- update -----------------------------------------------------------------------------


def _add_feed(
    manager: IntelManager, server: FeedServer, body: bytes = THREATS, *, kind: str = "threat"
) -> str:
    server.docs["/feed.txt"] = Doc(body, etag='"v1"')
    url = server.url("/feed.txt")
    manager.add(ListSpec("feed", url, kind, feed=True, refresh_seconds=3600))
    return url


def test_update_not_modified(
    manager: IntelManager, intel: IntelStore, store: Store, server: FeedServer, clock: Clock
) -> None:
    _add_feed(manager, server)
    clock.advance(10)
    [result] = manager.update(["feed"])
    assert (result.outcome, result.entries) == ("not-modified", 4)
    assert server.gets("/feed.txt")[-1]["If-None-Match"] == '"v1"'
    assert len(intel.changes("feed")) == 1
    assert finding_for(store, "feed")["service"]["count"] == 1
    meta = intel.get("feed")
    assert meta is not None
    assert meta.checked_at == meta.refreshed_at == int((T0 + 10) * 1000)
    assert meta.added_at == int(T0 * 1000)
    assert meta.etag == '"v1"'


def test_update_changed(
    manager: IntelManager, intel: IntelStore, store: Store, server: FeedServer, clock: Clock
) -> None:
    _add_feed(manager, server)
    server.docs["/feed.txt"] = Doc(THREATS_V2, etag='"v2"')
    clock.advance(10)
    [result] = manager.update(["feed"])
    assert (result.outcome, result.entries) == ("replaced", 5)
    meta = intel.get("feed")
    assert meta is not None
    assert (meta.entries, meta.etag, meta.feed, meta.refresh_seconds) == (5, '"v2"', True, 3600)
    assert meta.added_at == int(T0 * 1000)
    assert intel.data("feed") == THREATS_V2
    changes = intel.changes("feed")
    assert [c.change for c in changes] == ["replaced", "added"]
    assert (changes[0].detail["previousEntries"], changes[0].detail["entries"]) == (4, 5)
    assert finding_for(store, "feed")["service"]["count"] == 2
    enriched = load_enricher(intel).enrich("cloudtrail", ct_batch("192.0.2.66")).batch
    assert enriched.column("sourceIPAddress__threat_custom").to_pylist() == ["feed"]


def test_update_same_content_without_validators(
    manager: IntelManager, intel: IntelStore, store: Store, server: FeedServer
) -> None:
    server.docs["/plain.txt"] = Doc(THREATS)
    manager.add(ListSpec("plain", server.url("/plain.txt")))
    [result] = manager.update(["plain"])
    assert result.outcome == "unchanged"
    assert len(intel.changes("plain")) == 1
    assert finding_for(store, "plain")["service"]["count"] == 1


@pytest.mark.parametrize("failure", ["http-500", "refused", "html", "empty", "truncated-gzip"])
def test_update_failure_keeps_last_good_copy(
    manager: IntelManager,
    intel: IntelStore,
    store: Store,
    server: FeedServer,
    clock: Clock,
    failure: str,
) -> None:
    _add_feed(manager, server)
    if failure == "http-500":
        server.docs["/feed.txt"] = Doc(b"", status=500)
    elif failure == "refused":
        server.stop()
    elif failure == "html":
        server.docs["/feed.txt"] = Doc(HTML, etag='"v2"')
    elif failure == "empty":
        server.docs["/feed.txt"] = Doc(b"", etag='"v2"')
    else:
        server.docs["/feed.txt"] = Doc(gzip.compress(THREATS_V2)[:-20], etag='"v2"')
    clock.advance(7200)
    [result] = manager.update()  # due
    assert result.outcome == "failed"
    assert result.entries == 4
    assert result.message
    meta = intel.get("feed")
    assert meta is not None
    assert meta.last_error == result.message
    assert (meta.entries, meta.etag) == (4, '"v1"')
    assert meta.checked_at == int((T0 + 7200) * 1000)
    assert meta.refreshed_at == int(T0 * 1000)
    assert intel.data("feed") == THREATS
    assert len(intel.changes("feed")) == 1
    assert finding_for(store, "feed")["service"]["count"] == 1
    enriched = load_enricher(intel).enrich("cloudtrail", ct_batch("198.51.100.7", "8.8.8.8")).batch
    assert enriched.column("sourceIPAddress__threat_custom").to_pylist() == ["feed", None]
    if failure == "http-500":
        assert "HTTP 500" in result.message
    if failure == "html":
        assert "line 1" in result.message


def test_failure_then_recovery_clears_error(
    manager: IntelManager, intel: IntelStore, server: FeedServer, clock: Clock
) -> None:
    _add_feed(manager, server)
    server.docs["/feed.txt"] = Doc(b"", status=500)
    assert manager.update(["feed"])[0].outcome == "failed"
    server.docs["/feed.txt"] = Doc(THREATS, etag='"v1"')
    clock.advance(10)
    assert manager.update(["feed"])[0].outcome == "not-modified"
    meta = intel.get("feed")
    assert meta is not None and meta.last_error is None


def test_refresh_intervals(
    manager: IntelManager, intel: IntelStore, server: FeedServer, clock: Clock, tmp_path: Path
) -> None:
    _add_feed(manager, server)  # every hour
    manager.add(ListSpec("manual", write(tmp_path, "m.txt", THREATS)))  # no interval
    asked = len(server.gets("/feed.txt"))
    clock.advance(1800)
    outcomes = {r.name: r.outcome for r in manager.update()}
    assert outcomes == {"feed": "skipped", "manual": "skipped"}
    assert len(server.gets("/feed.txt")) == asked
    clock.advance(1800)  # exactly due
    outcomes = {r.name: r.outcome for r in manager.update()}
    assert outcomes == {"feed": "not-modified", "manual": "skipped"}
    assert len(server.gets("/feed.txt")) == asked + 1
    clock.advance(60)
    outcomes = {r.name: r.outcome for r in manager.update(force=True)}
    assert outcomes == {"feed": "not-modified", "manual": "unchanged"}
    clock.advance(60)
    # named lists are fetched whether due or not
    assert [r.outcome for r in manager.update(["feed"])] == ["not-modified"]
    assert len(server.gets("/feed.txt")) == asked + 3


def test_update_unknown_name(manager: IntelManager) -> None:
    [result] = manager.update(["nope"])
    assert (result.name, result.outcome, result.message) == ("nope", "failed", "no such list")


def test_update_local_file_changed(
    manager: IntelManager, intel: IntelStore, tmp_path: Path
) -> None:
    where = write(tmp_path, "l.txt", THREATS)
    manager.add(ListSpec("l1", where))
    write(tmp_path, "l.txt", THREATS_V2)
    assert [(r.outcome, r.entries) for r in manager.update(["l1"])] == [("replaced", 5)]
    meta = intel.get("l1")
    assert meta is not None and meta.format == "TXT"


# --- remove and the change findings -----------------------------------------------------


def test_remove(manager: IntelManager, intel: IntelStore, store: Store, tmp_path: Path) -> None:
    manager.add(ListSpec("l1", write(tmp_path, "l.txt", THREATS)))
    assert manager.remove("l1") is True
    assert intel.get("l1") is None
    assert intel.lists() == []
    with pytest.raises(Exception, match="no intel list"):
        intel.data("l1")
    changes = intel.changes("l1")
    assert [c.change for c in changes] == ["removed", "added"]
    assert (changes[0].detail["previousEntries"], changes[0].detail["entries"]) == (4, None)
    finding = finding_for(store, "l1")
    assert finding["service"]["count"] == 2
    assert finding["service"]["action"]["intelListChangeAction"]["change"] == "removed"
    assert manager.remove("l1") is False
    assert len(intel.changes("l1")) == 2


def test_change_finding_shape(
    manager: IntelManager, store: Store, tmp_path: Path, clock: Clock
) -> None:
    where = write(tmp_path, "l.txt", THREATS)
    manager.add(ListSpec("bad-ips", where, category="c2"))
    clock.advance(5)
    write(tmp_path, "l.txt", THREATS_V2)
    manager.update(["bad-ips"])
    f = finding_for(store, "bad-ips")
    assert f["type"] == "Stealth:Trailguard/IntelListChanged"
    assert f["severity"] == 2.0 and f["severityLabel"] in ("Low", "LOW")
    assert f["resource"]["resourceType"] == "IntelList"
    assert f["resource"]["intelListDetails"] == {
        "name": "bad-ips",
        "kind": "threat",
        "category": "c2",
        "location": where,
    }
    assert f["service"]["count"] == 2
    action = f["service"]["action"]
    assert action["actionType"] == "INTEL_LIST_CHANGE"
    detail = action["intelListChangeAction"]
    assert detail["change"] == "replaced"
    assert (detail["previousEntries"], detail["entries"], detail["trigger"]) == (4, 5, "cli")
    assert detail["sha256"] != detail["previousSha256"]
    assert "bad-ips" in f["title"] and "replaced" in f["title"]
    assert f["service"]["eventFirstSeen"] < f["service"]["eventLastSeen"]


def test_trusted_changes_are_more_severe(
    manager: IntelManager, store: Store, tmp_path: Path
) -> None:
    where = write(tmp_path, "l.txt", THREATS)
    manager.add(ListSpec("threats", where))
    manager.add(ListSpec("allow", where, "trusted"))
    assert finding_for(store, "threats")["severity"] == 2.0
    assert finding_for(store, "allow")["severity"] == 3.0
    manager.remove("allow")
    assert finding_for(store, "allow")["severity"] == 3.0


def test_trigger_is_recorded(intel: IntelStore, store: Store, clock: Clock, tmp_path: Path) -> None:
    manager = IntelManager(intel, fetch, clock=clock, trigger="scheduler")
    manager.add(ListSpec("l1", write(tmp_path, "l.txt", THREATS)))
    assert intel.changes("l1")[0].detail["trigger"] == "scheduler"
    assert "by scheduler" in finding_for(store, "l1")["description"]


# --- the enricher -----------------------------------------------------------------------


def test_load_enricher_kinds_and_categories(
    manager: IntelManager, intel: IntelStore, tmp_path: Path
) -> None:
    manager.add(ListSpec("tor-exits", write(tmp_path, "tor.txt", "198.51.100.7\n"), category="tor"))
    manager.add(
        ListSpec("pools", write(tmp_path, "pools.txt", "203.0.113.0/24\n"), category="mining")
    )
    manager.add(ListSpec("c2s", write(tmp_path, "c2.txt", "2001:db8:bad::/48\n"), category="c2"))
    manager.add(ListSpec("mine", write(tmp_path, "custom.txt", "192.0.2.1\nevil.example.com\n")))
    manager.add(ListSpec("allow", write(tmp_path, "allow.txt", "192.0.2.200\n"), "trusted"))
    enricher = load_enricher(intel)
    result = enricher.enrich(
        "cloudtrail",
        ct_batch("198.51.100.7", "203.0.113.9", "2001:db8:bad::1", "192.0.2.1", "192.0.2.200"),
    )
    assert result.trusted_rows == 1  # the trusted address's row is dropped
    b = result.batch
    assert b.num_rows == 4
    assert b.column("sourceIPAddress__threat_tor").to_pylist() == ["tor-exits", None, None, None]
    assert b.column("sourceIPAddress__threat_mining").to_pylist() == [None, "pools", None, None]
    assert b.column("sourceIPAddress__threat_c2").to_pylist() == [None, None, "c2s", None]
    assert b.column("sourceIPAddress__threat_custom").to_pylist() == [None, None, None, "mine"]
    assert b.column("sourceIPAddress__trusted").to_pylist() == [None] * 4
    dns = pa.RecordBatch.from_pydict({"query_name": ["evil.example.com.", "fine.example.org."]})
    got = enricher.enrich("dns", dns).batch
    assert got.column("query_name__threat_custom").to_pylist() == ["mine", None]


def test_trusted_wins_over_threat(manager: IntelManager, intel: IntelStore, tmp_path: Path) -> None:
    manager.add(ListSpec("bad", write(tmp_path, "bad.txt", "198.51.100.0/24\n")))
    manager.add(ListSpec("ours", write(tmp_path, "ours.txt", "198.51.100.7\n"), "trusted"))
    result = load_enricher(intel).enrich("cloudtrail", ct_batch("198.51.100.7", "198.51.100.8"))
    assert result.trusted_rows == 1
    assert result.batch.column("sourceIPAddress").to_pylist() == ["198.51.100.8"]
    assert result.batch.column("sourceIPAddress__threat_custom").to_pylist() == ["bad"]


def test_load_enricher_aws_ranges(manager: IntelManager, intel: IntelStore, tmp_path: Path) -> None:
    manager.add(ListSpec("aws", write(tmp_path, "ip-ranges.json", json.dumps(IP_RANGES)), "aws"))
    b = (
        load_enricher(intel)
        .enrich(
            "cloudtrail",
            ct_batch("3.5.141.7", "18.210.1.1", "52.94.77.1", "2600:1f18::9", "198.51.100.7"),
        )
        .batch
    )
    assert b.column("sourceIPAddress__aws").to_pylist() == [True, True, True, True, False]
    assert b.column("sourceIPAddress__aws_service").to_pylist() == [
        "S3",
        "EC2",
        "AMAZON",
        "EC2",
        None,
    ]
    assert b.column("sourceIPAddress__aws_region").to_pylist() == [
        "ap-northeast-2",
        "us-east-1",
        "us-west-2",
        "us-east-1",
        None,
    ]
    # an aws list is no threat list
    assert b.column("sourceIPAddress__threat_custom").to_pylist() == [None] * 5


def test_load_enricher_empty_store(intel: IntelStore) -> None:
    b = load_enricher(intel).enrich("cloudtrail", ct_batch("198.51.100.7")).batch
    assert b.column("sourceIPAddress__threat_custom").to_pylist() == [None]
    assert b.column("sourceIPAddress__trusted").to_pylist() == [None]


@pytest.mark.slow
def test_five_million_entries_are_accepted(
    manager: IntelManager, intel: IntelStore, tmp_path: Path
) -> None:
    n = 5_000_000
    started = time.monotonic()
    path = tmp_path / "big.txt"
    with path.open("w") as f:
        f.writelines(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(n - 1))
        f.write("2001:db8::/32\n")
    result = manager.add(ListSpec("big", str(path), format="TXT"))
    assert (result.outcome, result.entries, result.bad_lines) == ("added", n, 0)
    meta = intel.get("big")
    assert meta is not None and meta.entries == n
    assert time.monotonic() - started < 120


def test_fetch_of_the_manager_gets_validators(
    intel: IntelStore, clock: Clock, tmp_path: Path
) -> None:
    """The manager hands the stored validators to its fetcher, and stores what comes back."""
    calls: list[dict[str, Any]] = []

    def fake(location: str, **kw: Any) -> Any:
        from trailguard.sources.fetch import Fetched

        calls.append(kw)
        if kw.get("etag") == '"a"':
            return Fetched(None, '"a"', "Mon, 05 Oct 2026 10:00:00 GMT")
        return Fetched(THREATS, '"a"', "Sun, 04 Oct 2026 10:00:00 GMT")

    manager = IntelManager(intel, fake, clock=clock)
    manager.add(ListSpec("l1", "https://feeds.invalid/l1.txt"))
    assert calls[-1] == {}
    assert manager.update(["l1"])[0].outcome == "not-modified"
    assert calls[-1] == {"etag": '"a"', "last_modified": "Sun, 04 Oct 2026 10:00:00 GMT"}
    meta = intel.get("l1")
    assert meta is not None and meta.last_modified == "Mon, 05 Oct 2026 10:00:00 GMT"


def test_change_findings_do_not_carry_credentials_of_the_location() -> None:
    from trailguard.enrich.intel import _detail, change_hit
    from trailguard.enrich.lists import IntelList

    meta = IntelList(
        name="feed",
        kind="threat",
        category="custom",
        format="TXT",
        location="https://user:hunter2@feeds.example/list.txt?apikey=s3cret",
        csv_column=None,
        feed=True,
        refresh_seconds=3600,
        entries=1,
        bad_lines=0,
        sha256="0" * 64,
        etag=None,
        last_modified=None,
        added_at=0,
        refreshed_at=0,
        checked_at=0,
        last_error=None,
    )
    detail = _detail(None, meta, "feed")
    hit = change_hit(meta, "added", detail, 1_000)
    text = json.dumps([hit.description, hit.resource, hit.action])
    assert "feeds.example" in text
    assert "hunter2" not in text and "s3cret" not in text
