"""fetch(): local files, a real HTTP server on 127.0.0.1 (conditional requests, gzip, errors,
bombs, truncation) and S3 on the moto server (conditional get, missing keys and buckets)."""

from __future__ import annotations

import gzip
import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from trailguard.errors import SourceError
from trailguard.sources.fetch import USER_AGENT, fetch, redact

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LIST = b"# bad addresses\n198.51.100.7\n203.0.113.0/24\nevil.example.com\n"
LAST_MODIFIED = format_datetime(datetime(2026, 10, 1, 12, 0, tzinfo=UTC), usegmt=True)


@dataclass
class Doc:
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    content_encoding: str | None = None  # "gzip": compressed on the wire
    delay: float = 0.0
    raw: bytes | None = None  # sent as is instead of a proper response


@dataclass
class FeedServer:
    port: int = 0
    docs: dict[str, Doc] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(state: FeedServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            doc = state.docs.get(self.path)
            if doc is None:
                self.send_error(404)
                return
            if doc.delay:
                time.sleep(doc.delay)
            if doc.raw is not None:
                self.wfile.write(doc.raw)
                self.wfile.flush()
                self.close_connection = True
                return
            if doc.status != 200:
                self.send_error(doc.status)
                return
            inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            if (doc.etag and inm == doc.etag) or (
                not inm
                and doc.last_modified
                and ims
                and parsedate_to_datetime(ims) >= parsedate_to_datetime(doc.last_modified)
            ):
                self.send_response(304)
                if doc.etag:
                    self.send_header("ETag", doc.etag)
                self.end_headers()
                return
            body = gzip.compress(doc.body) if doc.content_encoding == "gzip" else doc.body
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            if doc.content_encoding:
                self.send_header("Content-Encoding", doc.content_encoding)
            if doc.etag:
                self.send_header("ETag", doc.etag)
            if doc.last_modified:
                self.send_header("Last-Modified", doc.last_modified)
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handlers: no socket outlives a test

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (the timeout test) breaks the pipe: expected


@pytest.fixture
def server() -> Iterator[FeedServer]:
    state = FeedServer()
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bomb(size: int = 8 * 1024 * 1024) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


# --- local files ------------------------------------------------------------------------


def test_local_file(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(LIST)
    got = fetch(str(path))
    assert got.data == LIST
    assert not got.not_modified
    assert (got.etag, got.last_modified) == (None, None)


def test_local_gzip_file_is_decompressed(tmp_path: Path) -> None:
    path = tmp_path / "list.txt.gz"
    path.write_bytes(gzip.compress(LIST))
    assert fetch(str(path)).data == LIST


def test_local_file_ignores_validators(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(LIST)
    assert fetch(str(path), etag='"x"', last_modified=LAST_MODIFIED).data == LIST


@pytest.mark.parametrize("name", ["missing.txt", "."])
def test_local_unreadable(tmp_path: Path, name: str) -> None:
    where = str(tmp_path / name)
    with pytest.raises(SourceError, match="cannot read") as info:
        fetch(where)
    assert where in str(info.value)


def test_local_bomb_and_too_large(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(_bomb())
    with pytest.raises(SourceError, match="decompression bomb"):
        fetch(str(bomb), max_bytes=1024 * 1024)
    big = tmp_path / "big.txt"
    big.write_bytes(b"1.2.3.4\n" * 1000)
    with pytest.raises(SourceError, match="larger than 100 bytes"):
        fetch(str(big), max_bytes=100)
    assert fetch(str(big), max_bytes=8000).data == b"1.2.3.4\n" * 1000  # exactly the limit


def test_local_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(LIST)[:-12])
    with pytest.raises(SourceError, match="truncated gzip") as info:
        fetch(str(path))
    assert str(path) in str(info.value)


# --- HTTP -------------------------------------------------------------------------------


def test_http_returns_data_and_validators(server: FeedServer) -> None:
    server.docs["/list.txt"] = Doc(LIST, etag='"v1"', last_modified=LAST_MODIFIED)
    got = fetch(server.url("/list.txt"))
    assert got.data == LIST
    assert (got.etag, got.last_modified) == ('"v1"', LAST_MODIFIED)
    _, headers = server.requests[-1]
    assert headers["User-Agent"] == USER_AGENT
    assert "If-None-Match" not in headers and "If-Modified-Since" not in headers


def test_http_etag_not_modified(server: FeedServer) -> None:
    server.docs["/list.txt"] = Doc(LIST, etag='"v1"')
    got = fetch(server.url("/list.txt"), etag='"v1"')
    assert got.not_modified and got.data is None
    assert got.etag == '"v1"'
    assert server.requests[-1][1]["If-None-Match"] == '"v1"'
    # the feed changed: a new ETag, the new content
    server.docs["/list.txt"] = Doc(LIST + b"192.0.2.1\n", etag='"v2"')
    got = fetch(server.url("/list.txt"), etag='"v1"')
    assert got.data == LIST + b"192.0.2.1\n"
    assert got.etag == '"v2"'


def test_http_last_modified_not_modified(server: FeedServer) -> None:
    server.docs["/list.txt"] = Doc(LIST, last_modified=LAST_MODIFIED)
    got = fetch(server.url("/list.txt"), last_modified=LAST_MODIFIED)
    assert got.not_modified
    assert got.last_modified == LAST_MODIFIED
    assert server.requests[-1][1]["If-Modified-Since"] == LAST_MODIFIED
    older = format_datetime(datetime(2026, 9, 1, tzinfo=UTC), usegmt=True)
    got = fetch(server.url("/list.txt"), last_modified=older)
    assert got.data == LIST
    assert got.last_modified == LAST_MODIFIED


def test_http_gzip_content_encoding(server: FeedServer) -> None:
    server.docs["/list.txt"] = Doc(LIST, content_encoding="gzip")
    assert fetch(server.url("/list.txt")).data == LIST
    assert "gzip" in server.requests[-1][1]["Accept-Encoding"]


def test_http_gzip_file(server: FeedServer) -> None:
    server.docs["/list.txt.gz"] = Doc(gzip.compress(LIST))
    assert fetch(server.url("/list.txt.gz")).data == LIST


@pytest.mark.parametrize(("status", "text"), [(404, "HTTP 404"), (500, "HTTP 500"), (503, "503")])
def test_http_errors(server: FeedServer, status: int, text: str) -> None:
    server.docs["/list.txt"] = Doc(LIST, status=status)
    url = server.url("/list.txt")
    with pytest.raises(SourceError, match=text) as info:
        fetch(url)
    assert url in str(info.value)


def test_http_not_found(server: FeedServer) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        fetch(server.url("/nothing-here"))


def test_http_connection_refused() -> None:
    url = f"http://127.0.0.1:{_free_port()}/list.txt"
    with pytest.raises(SourceError, match="cannot fetch") as info:
        fetch(url, timeout=5)
    assert url in str(info.value)


def test_http_timeout(server: FeedServer) -> None:
    server.docs["/slow"] = Doc(LIST, delay=1.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match="cannot fetch"):
        fetch(server.url("/slow"), timeout=0.3)
    assert time.monotonic() - started < 1.4


def test_http_bomb(server: FeedServer) -> None:
    server.docs["/bomb.gz"] = Doc(_bomb())
    with pytest.raises(SourceError, match="decompression bomb"):
        fetch(server.url("/bomb.gz"), max_bytes=1024 * 1024)


def test_http_bomb_in_content_encoding(server: FeedServer) -> None:
    server.docs["/bomb"] = Doc(b"\0" * (8 * 1024 * 1024), content_encoding="gzip")
    with pytest.raises(SourceError, match="decompression bomb"):
        fetch(server.url("/bomb"), max_bytes=1024 * 1024)


def test_http_too_large(server: FeedServer) -> None:
    server.docs["/big"] = Doc(b"1.2.3.4\n" * 1000)
    with pytest.raises(SourceError, match="larger than 1000 bytes"):
        fetch(server.url("/big"), max_bytes=1000)


def test_http_truncated_body_is_an_error(server: FeedServer) -> None:
    # Content-Length promises more than arrives: a partial list must not pass as the list
    server.docs["/cut"] = Doc(
        b"",
        raw=b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n1.2.3.4\n",
    )
    with pytest.raises(SourceError, match="truncated"):
        fetch(server.url("/cut"), timeout=5)


def test_http_truncated_chunked_body_is_an_error(server: FeedServer) -> None:
    server.docs["/cut"] = Doc(
        b"",
        raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"100\r\n1.2.3.4\n",
    )
    with pytest.raises(SourceError, match="IncompleteRead"):
        fetch(server.url("/cut"), timeout=5)


def test_http_not_http(server: FeedServer) -> None:
    server.docs["/junk"] = Doc(b"", raw=b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    with pytest.raises(SourceError, match="cannot fetch"):
        fetch(server.url("/junk"), timeout=5)


def test_http_bad_url() -> None:
    with pytest.raises(SourceError):
        fetch("http://127.0.0.1:notaport/x", timeout=5)


# --- S3 ---------------------------------------------------------------------------------


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    s3_client.create_bucket(Bucket="intel-lists")
    s3_client.put_object(Bucket="intel-lists", Key="threat/list.txt", Body=LIST)
    return "intel-lists"


def test_s3_get(moto_server: str, bucket: str) -> None:
    got = fetch(f"s3://{bucket}/threat/list.txt", endpoint_url=moto_server)
    assert got.data == LIST
    assert got.etag and got.etag.startswith('"')
    assert got.last_modified and got.last_modified.endswith(" GMT")
    parsedate_to_datetime(got.last_modified)  # a valid HTTP date


def test_s3_gzip_object(moto_server: str, s3_client: S3Client, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key="list.gz", Body=gzip.compress(LIST))
    assert fetch(f"s3://{bucket}/list.gz", endpoint_url=moto_server).data == LIST


def test_s3_conditional_etag(moto_server: str, s3_client: S3Client, bucket: str) -> None:
    url = f"s3://{bucket}/threat/list.txt"
    first = fetch(url, endpoint_url=moto_server)
    # moto answers IfNoneMatch with a 304, as S3 does
    again = fetch(url, etag=first.etag, endpoint_url=moto_server)
    assert again.not_modified
    assert again.etag == first.etag
    s3_client.put_object(Bucket=bucket, Key="threat/list.txt", Body=LIST + b"192.0.2.9\n")
    changed = fetch(url, etag=first.etag, endpoint_url=moto_server)
    assert changed.data == LIST + b"192.0.2.9\n"
    assert changed.etag != first.etag


def test_s3_rewritten_within_the_second(moto_server: str, s3_client: S3Client, bucket: str) -> None:
    """Both validators stored; the object changes in the same second: the new copy."""
    url = f"s3://{bucket}/threat/list.txt"
    first = fetch(url, endpoint_url=moto_server)
    s3_client.put_object(Bucket=bucket, Key="threat/list.txt", Body=b"192.0.2.1\n")
    again = fetch(url, etag=first.etag, last_modified=first.last_modified, endpoint_url=moto_server)
    assert again.data == b"192.0.2.1\n"
    unchanged = fetch(
        url, etag=again.etag, last_modified=again.last_modified, endpoint_url=moto_server
    )
    assert unchanged.not_modified


def test_s3_conditional_last_modified(moto_server: str, bucket: str) -> None:
    url = f"s3://{bucket}/threat/list.txt"
    first = fetch(url, endpoint_url=moto_server)
    assert fetch(url, last_modified=first.last_modified, endpoint_url=moto_server).not_modified
    long_ago = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    assert fetch(url, last_modified=long_ago, endpoint_url=moto_server).data == LIST
    # an unreadable stored date: fetched in full rather than failing
    assert fetch(url, last_modified="yesterday", endpoint_url=moto_server).data == LIST


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("s3://intel-lists/missing.txt", "NoSuchKey"),
        ("s3://no-such-bucket-here/list.txt", "NoSuchBucket"),
        ("s3://intel-lists", "no object key"),
        ("s3://intel-lists/", "no object key"),
        ("s3:///list.txt", "no bucket"),
    ],
)
def test_s3_missing(moto_server: str, bucket: str, url: str, text: str) -> None:
    with pytest.raises(SourceError, match=text) as info:
        fetch(url, endpoint_url=moto_server)
    assert url in str(info.value)


def test_s3_unreachable_endpoint(bucket: str) -> None:
    with pytest.raises(SourceError, match=re.escape("s3://intel-lists/threat/list.txt")):
        fetch("s3://intel-lists/threat/list.txt", endpoint_url=f"http://127.0.0.1:{_free_port()}")


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("./lists/bad.txt", "./lists/bad.txt"),
        ("s3://bucket/key.txt", "s3://bucket/key.txt"),
        ("https://feeds.example/list.txt", "https://feeds.example/list.txt"),
        ("https://u:hunter2@feeds.example/l.txt", "https://u:***@feeds.example/l.txt"),
        ("https://tok3n@feeds.example/l.txt", "https://***@feeds.example/l.txt"),
        (
            "https://feeds.example/l.csv?apikey=s3cret&format=csv&x",
            "https://feeds.example/l.csv?apikey=***&format=***&x",
        ),
    ],
)
def test_redact_hides_credentials_in_locations(location: str, shown: str) -> None:
    assert redact(location) == shown


def test_fetch_errors_do_not_show_credentials(server: FeedServer) -> None:
    url = server.url("/missing?apikey=s3cret").replace("http://", "http://user:hunter2@")
    with pytest.raises(SourceError) as err:
        fetch(url)
    assert "hunter2" not in str(err.value) and "s3cret" not in str(err.value)
