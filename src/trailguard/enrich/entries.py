"""The parsed form of a threat or trusted list: columnar, so lists of millions of entries load fast.

A :class:`ListBuilder` validates and normalises entries one by one and appends them to typed
arrays; :meth:`ListBuilder.build` hands the arrays over as a :class:`ListEntries`.  Nothing here
allocates an object per entry, which is what lets a 1,000,000-line list load in a few seconds.

Normalisation rules (what the matchers can rely on):

- IPv4 and IPv6 entries are inclusive integer ranges; a single address has ``start == end``.
  IPv6 values are split into high and low 64-bit halves.
- A CIDR with host bits set (``192.0.2.1/24``) is accepted and widened to its network
  (``192.0.2.0``-``192.0.2.255``), as FireHOL's ``iprange`` and GuardDuty-compatible tools do:
  whoever wrote it meant the network, and dropping the line would silently shrink the list.
- Rejected: IPv4 octets with leading zeros (``010.1.1.1`` is octal to some parsers and decimal
  to others), IPv4-mapped IPv6 (``::ffff:192.0.2.1``: list the IPv4 address instead), zone ids
  (``fe80::1%eth0``), prefix lengths out of range or with leading zeros, ranges whose start is
  above their end or that mix families.
- Domains are lower-case, without a trailing dot, in IDNA (punycode) form.  Labels are 1-63
  characters of letters, digits, ``-`` and ``_``; names are at most 253 characters and need at
  least two labels; a name whose last label is all digits or a single character is not a
  domain (``198.51.100.x`` is a mistyped address).
- ``*.example.org`` is stored in ``wildcards`` as ``example.org`` and means *subdomains of*
  ``example.org``, not ``example.org`` itself (list the apex as well to match it).
- Threat names are interned: each entry holds an index into ``threats`` (-1 for none).
- Duplicates and overlaps are kept; merging them is the matcher's business.
"""

from __future__ import annotations

import socket
from array import array
from dataclasses import dataclass

__all__ = ["MAX_BAD_KEPT", "BadLine", "ListBuilder", "ListEntries"]

#: How many bad lines are kept with their text; the rest are only counted.
MAX_BAD_KEPT = 1000
_BAD_TEXT_CHARS = 200
_THREAT_CHARS = 200

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop
_from_bytes = int.from_bytes

_U64 = (1 << 64) - 1
_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_DIGITS = frozenset("0123456789")
_V4_CHARS = frozenset("0123456789.")
_V4_RANGE_CHARS = frozenset("0123456789.- ")


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line (or XML element / JSON object) that could not be used, and why.

    ``line`` is 1-based.  ``text`` is cut to about 200 characters and has control and other
    non-printable characters escaped, so it is safe to print to a terminal or a log.
    """

    line: int
    text: str
    reason: str


def safe_text(text: str, limit: int = _BAD_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters with non-printable characters escaped."""
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in cut)
    if len(text) > limit:
        cut += "…"
    return cut


@dataclass(frozen=True, slots=True, eq=False)
class ListEntries:
    """One parsed list, as parallel typed arrays.  Build it with :class:`ListBuilder`."""

    v4_start: array[int]
    v4_end: array[int]
    v4_info: array[int]
    v6_start_hi: array[int]
    v6_start_lo: array[int]
    v6_end_hi: array[int]
    v6_end_lo: array[int]
    v6_info: array[int]
    domains: list[str]
    domain_info: array[int]
    wildcards: list[str]
    wildcard_info: array[int]
    threats: list[str]
    bad: list[BadLine]
    bad_count: int
    lines: int
    skipped: int = 0
    """Well-formed records of kinds no matcher uses (URLs, file hashes, exception rules…)."""

    def __len__(self) -> int:
        return len(self.v4_start) + len(self.v6_start_hi) + len(self.domains) + len(self.wildcards)

    def threat_of(self, info: int) -> str | None:
        """The threat name an ``*_info`` value stands for."""
        return None if info < 0 else self.threats[info]


def _v4(text: str) -> int:
    try:
        packed = _inet_pton(_AF_INET, text)
    except (OSError, ValueError):  # ValueError: embedded NUL
        parts = text.split(".")
        if any(len(p) > 1 and p[0] == "0" and p.isdigit() for p in parts) and len(parts) == 4:
            raise ValueError("IPv4 octet with a leading zero") from None
        raise ValueError("not an IPv4 address") from None
    # inet_pton's handling of leading zeros differs between C libraries: insist on the
    # canonical spelling so "010.1.1.1" is rejected everywhere.
    if _inet_ntop(_AF_INET, packed) != text:
        raise ValueError("IPv4 octet with a leading zero")
    return _from_bytes(packed, "big")


def _v6(text: str) -> int:
    try:
        packed = _inet_pton(_AF_INET6, text)
    except (OSError, ValueError):
        # ValueError: embedded NUL
        if "%" in text:
            raise ValueError("IPv6 zone ids are not allowed") from None
        raise ValueError("not an IPv6 address") from None
    if packed[:12] == _MAPPED_PREFIX:
        raise ValueError("IPv4-mapped IPv6 address: list the IPv4 address instead")
    return _from_bytes(packed, "big")


def _prefix(text: str, bits: int) -> int:
    if not text or not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ValueError("bad prefix length")
    n = int(text)
    if n > bits:
        raise ValueError(f"prefix length above /{bits}")
    return n


def _is_v6(text: str) -> bool:
    return ":" in text


def _domain(text: str, *, wildcard: bool = False) -> str:
    """``text`` as a normalised domain name, or ValueError."""
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name.isascii():
        if not name.isprintable():
            raise ValueError("unprintable character in domain name")
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("domain name not convertible to IDNA") from None
        name = name.lower()
    if len(name) > 253:
        raise ValueError("domain name longer than 253 characters")
    if not name:
        raise ValueError("empty domain name")
    if not _DOMAIN_CHARS.issuperset(name):
        raise ValueError("character not allowed in a domain name")
    labels = name.split(".")
    for label in labels:
        if not label:
            raise ValueError("empty label in domain name")
        if len(label) > 63:
            raise ValueError("domain label longer than 63 characters")
    if _DIGITS.issuperset(labels[-1]) or len(labels[-1]) < 2:
        # no top-level domain is numeric or one character long: "198.51.100.x" is a typo
        raise ValueError("not a domain name (bad top-level label)")
    if len(labels) < 2 and not wildcard:
        raise ValueError("single-label name")
    return name


class ListBuilder:
    """Validates entries and appends them to the arrays of a :class:`ListEntries`.

    The ``add_*`` methods raise :class:`ValueError` with a short reason when their input is not
    valid; parsers catch it and record a bad line with :meth:`bad`.
    """

    __slots__ = (
        "_bad",
        "_bad_count",
        "_d_info",
        "_domains",
        "_threat_index",
        "_threats",
        "_v4_end",
        "_v4_info",
        "_v4_start",
        "_v6_end_hi",
        "_v6_end_lo",
        "_v6_info",
        "_v6_start_hi",
        "_v6_start_lo",
        "_w_info",
        "_wildcards",
        "lines",
        "skipped",
    )

    def __init__(self) -> None:
        self._v4_start: array[int] = array("Q")
        self._v4_end: array[int] = array("Q")
        self._v4_info: array[int] = array("i")
        self._v6_start_hi: array[int] = array("Q")
        self._v6_start_lo: array[int] = array("Q")
        self._v6_end_hi: array[int] = array("Q")
        self._v6_end_lo: array[int] = array("Q")
        self._v6_info: array[int] = array("i")
        self._domains: list[str] = []
        self._d_info: array[int] = array("i")
        self._wildcards: list[str] = []
        self._w_info: array[int] = array("i")
        self._threats: list[str] = []
        self._threat_index: dict[str, int] = {}
        self._bad: list[BadLine] = []
        self._bad_count = 0
        #: Lines (or elements, or objects) read; parsers keep it up to date.
        self.lines = 0
        #: Well-formed records of kinds that no matcher uses.
        self.skipped = 0

    def __len__(self) -> int:
        return (
            len(self._v4_start) + len(self._v6_start_hi) + len(self._domains) + len(self._wildcards)
        )

    def threat(self, name: str | None) -> int:
        """The index of threat name ``name`` (interned, whitespace collapsed), or -1."""
        if name is None:
            return -1
        index = self._threat_index.get(name)
        if index is None:
            clean = safe_text(" ".join(name.split()), _THREAT_CHARS)
            if not clean:
                index = -1
            else:
                index = self._threat_index.get(clean, -1)
                if index < 0:
                    index = len(self._threats)
                    self._threats.append(clean)
                    self._threat_index[clean] = index
            self._threat_index[name] = index
        return index

    def _put_v4(self, start: int, end: int, info: int) -> None:
        self._v4_start.append(start)
        self._v4_end.append(end)
        self._v4_info.append(info)

    def _put_v6(self, start: int, end: int, info: int) -> None:
        self._v6_start_hi.append(start >> 64)
        self._v6_start_lo.append(start & _U64)
        self._v6_end_hi.append(end >> 64)
        self._v6_end_lo.append(end & _U64)
        self._v6_info.append(info)

    def add_ip(self, text: str, threat: str | None = None) -> None:
        """One IPv4 or IPv6 address."""
        if _is_v6(text):
            value = _v6(text)
            self._put_v6(value, value, self.threat(threat))
        else:
            value = _v4(text)
            self._put_v4(value, value, self.threat(threat))

    def add_cidr(self, text: str, threat: str | None = None) -> None:
        """A network ``address/prefix``; host bits are cleared (see the module docstring)."""
        address, sep, length = text.partition("/")
        if not sep:
            raise ValueError("CIDR without a prefix length")
        if _is_v6(address):
            value, bits = _v6(address), 128
        else:
            value, bits = _v4(address), 32
        host = (1 << (bits - _prefix(length, bits))) - 1
        start = value & ~host
        if bits == 32:
            self._put_v4(start, start | host, self.threat(threat))
        else:
            self._put_v6(start, start | host, self.threat(threat))

    def add_range(self, first: str, last: str, threat: str | None = None) -> None:
        """An inclusive range of addresses of one family (STIX ``InclusiveBetween``)."""
        v6 = _is_v6(first)
        if v6 != _is_v6(last):
            raise ValueError("range mixes IPv4 and IPv6")
        parse = _v6 if v6 else _v4
        start, end = parse(first), parse(last)
        if start > end:
            raise ValueError("range start above its end")
        if v6:
            self._put_v6(start, end, self.threat(threat))
        else:
            self._put_v4(start, end, self.threat(threat))

    def add_domain(self, text: str, threat: str | None = None) -> None:
        """An exact domain name (IDNA-encoded if it is not ASCII)."""
        if text.startswith("*."):
            raise ValueError("wildcard where an exact domain name is expected")
        name = _domain(text)
        self._domains.append(name)
        self._d_info.append(self.threat(threat))

    def add_wildcard(self, text: str, threat: str | None = None) -> None:
        """Every subdomain of a domain: ``*.example.org`` or just ``example.org``."""
        name = _domain(text[2:] if text.startswith("*.") else text, wildcard=True)
        self._wildcards.append(name)
        self._w_info.append(self.threat(threat))

    def add_token(self, text: str, threat: str | None = None) -> None:
        """Whatever one TXT-list token is: IP, CIDR, ``a-b`` range, ``*.domain`` or domain."""
        if "/" in text:
            self.add_cidr(text, threat)
        elif text.startswith("*."):
            self.add_wildcard(text, threat)
        elif ":" in text or _V4_CHARS.issuperset(text):
            if "-" in text:
                first, _, last = text.partition("-")
                self.add_range(first.strip(), last.strip(), threat)
            else:
                self.add_ip(text, threat)
        elif "-" in text and _V4_RANGE_CHARS.issuperset(text):
            first, _, last = text.partition("-")
            self.add_range(first.strip(), last.strip(), threat)
        else:
            self.add_domain(text, threat)

    def add_address(self, text: str, threat: str | None = None) -> None:
        """An IP or a CIDR (for formats whose column holds addresses only)."""
        if "/" in text:
            self.add_cidr(text, threat)
        else:
            self.add_ip(text, threat)

    def bad(self, line: int, text: str, reason: str) -> None:
        """Count a bad line; the first :data:`MAX_BAD_KEPT` are kept with their text."""
        self._bad_count += 1
        if len(self._bad) < MAX_BAD_KEPT:
            self._bad.append(BadLine(line, safe_text(text), reason))

    @property
    def bad_count(self) -> int:
        return self._bad_count

    def first_bad(self) -> BadLine | None:
        return self._bad[0] if self._bad else None

    def build(self) -> ListEntries:
        """The entries added so far.  The builder must not be used afterwards."""
        return ListEntries(
            v4_start=self._v4_start,
            v4_end=self._v4_end,
            v4_info=self._v4_info,
            v6_start_hi=self._v6_start_hi,
            v6_start_lo=self._v6_start_lo,
            v6_end_hi=self._v6_end_hi,
            v6_end_lo=self._v6_end_lo,
            v6_info=self._v6_info,
            domains=self._domains,
            domain_info=self._d_info,
            wildcards=self._wildcards,
            wildcard_info=self._w_info,
            threats=self._threats,
            bad=self._bad,
            bad_count=self._bad_count,
            lines=self.lines,
            skipped=self.skipped,
        )
