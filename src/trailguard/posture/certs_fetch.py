"""Load certificate bundles for ``trailguard certs``: files, folders, https:// URLs, servers.

The part of the command that talks to the outside world; everything it reads goes through
:func:`trailguard.posture.certs.read_certificates`.  Nothing here raises for bad input: a
file, URL or server that cannot be read becomes a :class:`~trailguard.posture.certs.Problem`
of its bundle, so one bad SOURCE never stops the others.

* A file is one bundle; a folder is one bundle of every ``.pem``, ``.crt`` and ``.cer``
  file under it (recursively, in name order), so a certificate in one file can be issued by
  one in another.
* An ``https://`` URL is fetched with ``urllib`` and verified against the system's trust
  store, or ``ca_file``, or not at all with ``insecure``; redirects are followed only to
  other ``https://`` URLs.
* ``host:port`` (``[v6addr]:port`` for IPv6) opens a TLS connection and takes the chain the
  server sends, *without* verifying it: the point is to see what is wrong with it.  Python
  3.13 returns that chain from ``SSLSocket.get_unverified_chain()``; Python 3.10 to 3.12
  have the same method on the socket's internal ``_sslobj`` only.  Where neither exists,
  the server's own certificate (``getpeercert(binary_form=True)``) is all that Python
  offers: it is inspected alone and the bundle carries a note saying so.  Only servers that
  start TLS at once are supported, not protocols that negotiate it first (PostgreSQL,
  MySQL, SMTP STARTTLS).
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from trailguard.errors import ConfigError
from trailguard.posture.certs import Bundle, Located, Problem, load_der, read_certificates
from trailguard.sources.fetch import redact

SUFFIXES: Final = (".pem", ".crt", ".cer")
MAX_BUNDLE_BYTES: Final = 16 * 1024 * 1024
DEFAULT_TIMEOUT: Final = 10.0
LEAF_ONLY_NOTE: Final = (
    "this Python does not expose the chain the server sends: only its own certificate is shown"
)
_SERVER: Final = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d+)$"
)


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How to reach URLs and servers.  ``url_context`` verifies https:// downloads."""

    url_context: ssl.SSLContext
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = MAX_BUNDLE_BYTES


def url_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """The TLS context for https:// downloads; :class:`ConfigError` if ``ca_file`` is bad."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--ca-file {ca_file}: cannot load CA certificates: {exc}") from exc
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def parse_server(spec: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` or ``[v6addr]:port``; None if ``spec`` is not one."""
    m = _SERVER.match(spec)
    if not m:
        return None
    port = int(m.group("port"))
    if not 0 < port < 65536:
        return None
    return m.group("v6") or m.group("host"), port


def load_source(spec: str, options: FetchOptions) -> Bundle:
    """One SOURCE as a bundle: a file, a folder, an https:// URL, or host:port."""
    scheme = urllib.parse.urlsplit(spec).scheme.lower() if "://" in spec else ""
    if scheme == "https":
        return load_url(spec, options)
    if scheme:
        return _unreadable(spec, f"{scheme}:// is not fetched: give an https:// URL")
    path = Path(spec)
    if path.is_dir():
        return load_folder(path, options.max_bytes)
    if path.exists():
        return load_file(path, options.max_bytes)
    server = parse_server(spec)
    if server is not None:
        return load_server(server[0], server[1], options.timeout)
    return _unreadable(spec, "no such file or folder (nor an https:// URL or host:port)")


def _unreadable(name: str, reason: str) -> Bundle:
    return Bundle(name, problems=(Problem(name, "", reason),))


# --- files --------------------------------------------------------------------------------


def load_file(path: Path, max_bytes: int = MAX_BUNDLE_BYTES) -> Bundle:
    return _bundle(str(path), [path], max_bytes)


def load_folder(folder: Path, max_bytes: int = MAX_BUNDLE_BYTES) -> Bundle:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        return _unreadable(str(folder), f"no {', '.join(SUFFIXES)} files in this folder")
    return _bundle(str(folder), files, max_bytes)


def _bundle(name: str, files: list[Path], max_bytes: int) -> Bundle:
    certs: list[Located] = []
    problems: list[Problem] = []
    notes: list[str] = []
    for path in files:
        try:
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            problems.append(Problem(str(path), "", f"cannot read: {exc.strerror or exc}"))
            continue
        if len(data) > max_bytes:
            problems.append(Problem(str(path), "", f"larger than {max_bytes:,} bytes: skipped"))
            continue
        parsed = read_certificates(data, str(path))
        certs.extend(parsed.certs)
        problems.extend(parsed.problems)
        notes.extend(parsed.notes)
    return Bundle(name, tuple(certs), tuple(problems), tuple(notes))


# --- https:// -----------------------------------------------------------------------------


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to https:// only: a CA bundle must not arrive over plain HTTP."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            fp.close()
            raise urllib.error.URLError(f"redirect to {newurl} refused: not https://")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def load_url(url: str, options: FetchOptions) -> Bundle:
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=options.url_context), _HttpsOnlyRedirects()
    )
    # the URL is fetched as given but shown (and stored in findings) without its secrets:
    # presigned S3 URLs carry credentials in the query
    name = redact(url)
    try:
        with opener.open(url, timeout=options.timeout) as response:
            data: bytes = response.read(options.max_bytes + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        return _unreadable(name, f"HTTP {exc.code} {exc.reason}")
    except urllib.error.URLError as exc:
        return _unreadable(name, f"cannot fetch: {exc.reason}")
    except (OSError, http.client.HTTPException) as exc:
        return _unreadable(name, f"cannot fetch: {exc}")
    if len(data) > options.max_bytes:
        return _unreadable(name, f"larger than {options.max_bytes:,} bytes: not read")
    parsed = read_certificates(data, name)
    return Bundle(name, parsed.certs, parsed.problems, parsed.notes)


# --- host:port ----------------------------------------------------------------------------


def load_server(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> Bundle:
    """The chain a TLS server sends, unverified (see the module docstring)."""
    name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # inspection, not trust: expired or self-signed chains must still be read
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            chain, note = served_chain(tls)
    except (OSError, ssl.SSLError) as exc:
        return _unreadable(name, f"TLS connection failed: {exc}")
    certs: list[Located] = []
    problems: list[Problem] = []
    for n, der in enumerate(chain, start=1):
        where = f"certificate {n} of {len(chain)} sent"
        try:
            certs.append(Located(load_der(der), name, where))
        except ValueError as exc:
            problems.append(Problem(name, where, f"not a certificate: {exc}"))
    if not chain:
        problems.append(Problem(name, "", "the server sent no certificate"))
    return Bundle(name, tuple(certs), tuple(problems), (note,) if note else ())


def served_chain(tls: ssl.SSLSocket) -> tuple[list[bytes], str | None]:
    """The DER certificates the peer sent, its own first, and a note if that is all there is."""
    method = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if method is None:  # Python 3.10-3.12: the same method, on the internal SSL object
        method = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    items = method() if callable(method) else None
    chain = [_der(item) for item in items or ()]
    leaf = tls.getpeercert(binary_form=True)
    if not chain:
        return ([leaf], LEAF_ONLY_NOTE) if leaf else ([], None)
    if leaf and leaf not in chain:
        chain.insert(0, leaf)
    return chain, None


def _der(item: object) -> bytes:
    """DER bytes of one chain element: bytes already (3.13), or an ``_ssl.Certificate``."""
    if isinstance(item, bytes):
        return item
    pem = item.public_bytes()  # type: ignore[attr-defined]  # PEM text by default
    return ssl.PEM_cert_to_DER_cert(pem) if isinstance(pem, str) else bytes(pem)


__all__ = [
    "FetchOptions",
    "load_file",
    "load_folder",
    "load_server",
    "load_source",
    "load_url",
    "parse_server",
    "served_chain",
    "url_context",
]
