"""Parsers for threat and trusted list files, in every format GuardDuty accepts and a few more.

``parse_list(data, fmt, source=…)`` turns a file's bytes into :class:`ListEntries`.  Formats:

``TXT``
    One IP, CIDR, ``a-b`` range, domain or ``*.domain`` per line; ``#`` comments, also inline;
    ``;`` starts an inline comment too (Spamhaus DROP style ``192.0.2.0/24 ; SBL123``).
``STIX``
    STIX 1.x XML as GuardDuty documents it: ``stix:STIX_Package`` holding CybOX
    ``AddressObj:Address_Value`` (``Equals``, ``apply_condition="ANY"`` lists joined with
    ``##comma##``, and ``condition="InclusiveBetween"`` ranges), ``DomainNameObj:Value`` and
    ``HostnameObj:Hostname_Value``.  Read with ``defusedxml``: DTDs, entities and external
    references are refused.  The typo in GuardDuty's own example
    (``<AddressObject:Address_Valuecondition=…>``) is repaired.  A file that is JSON is read
    as ``STIX2``.  The enclosing indicator's ``Title`` is the threat name.
``STIX2``
    A STIX 2.x bundle (or TAXII envelope, or list of objects).  Indicators whose STIX pattern is
    made of ``ipv4-addr:value``, ``ipv6-addr:value`` and ``domain-name:value`` comparisons
    (``=``, ``IN``, ``ISSUBSET``, ``LIKE '%.example.org'``) joined by ``OR`` become entries;
    ``AND``, ``FOLLOWEDBY``, qualifiers and negations cannot be matched one address at a time
    and make the indicator a bad entry.  Patterns about other objects only (URLs, hashes), other
    pattern languages and revoked indicators are skipped.  Threat name: ``name`` (unless it is
    just the indicator's value), else ``indicator_types``, else ``labels``.  Patterns are parsed
    by the ``stix2`` library; objects are not instantiated through it, which would cost about
    0.4 ms each (minutes for a million-indicator feed).
``OTX_CSV``
    ``Indicator type, Indicator, Description``: IPv4/IPv6/CIDR/domain/hostname rows; other
    indicator types (URL, FileHash-…) are skipped.
``FIRE_EYE``
    FireEye iSIGHT CSV (47-column header): the ``cidr``, ``ip`` and ``domain`` columns; threat
    name from ``malwareFamily``, else ``actor``.
``PROOF_POINT``
    Proofpoint ET ``ip|domain, category, score, first_seen, last_seen, ports (|)``; numeric ET
    categories are named (``10`` → ``TorNode``, ``40`` → ``Bitcoin_Related``).
``ALIEN_VAULT``
    AlienVault reputation ``IP#reliability#risk#type#country#city#lat,lon#x``; the type is the
    threat name.
``CSV``
    Any CSV with a header row; ``csv_column`` names the column (default: the first).  ``#``
    comment lines are skipped, and a commented-out header (abuse.ch style) is recognised.
``FIREHOL``
    FireHOL ``.ipset``/``.netset``: IPs and CIDRs with ``#`` header comments; the ipset's name
    from the header is the threat name.
``HOSTS``
    hosts-file block lists ``0.0.0.0 bad.example other.example``; the address is the sink and
    is not an entry; ``localhost`` and friends are skipped.
``ADBLOCK``
    ``||domain^`` rules (optionally ``$important`` and similar options) become the domain and
    all its subdomains; exception, cosmetic, path and regex rules are skipped.

Bad lines are recorded with their 1-based line number (for STIX 1.x: the ordinal of the value
element; for STIX 2: of the object in the bundle) and never stop the parse.  A file that cannot
be read at all raises :class:`~trailguard.errors.IntelError` naming ``source``: not UTF-8, not
the format at all, XML that is not STIX, and any file that has bad lines but no entry.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml  # type: ignore[import-untyped]  # no stubs in the dev set
from defusedxml.ElementTree import iterparse  # type: ignore[import-untyped]

from trailguard.enrich.entries import ListBuilder, ListEntries
from trailguard.errors import IntelError

__all__ = ["FORMATS", "parse_list", "sniff_format"]

FORMATS: tuple[str, ...] = (
    "TXT",
    "STIX",
    "STIX2",
    "OTX_CSV",
    "FIRE_EYE",
    "PROOF_POINT",
    "ALIEN_VAULT",
    "CSV",
    "FIREHOL",
    "HOSTS",
    "ADBLOCK",
)

_V4_CHARS = frozenset("0123456789.")

# csv's default 128 KiB field limit is kept: a longer field is a bad line, not a crash.
_CSV_OPTIONS: dict[str, Any] = {"skipinitialspace": True, "strict": False}


def parse_list(data: bytes, fmt: str, *, source: str, csv_column: str | None = None) -> ListEntries:
    """Parse one list file.  ``source`` names it in errors (a path, URL or list name)."""
    name = fmt.strip().upper()
    if name not in FORMATS:
        raise IntelError(f"{source}: unknown list format {fmt!r} (one of {', '.join(FORMATS)})")
    builder = ListBuilder()
    if name == "STIX2" or (name == "STIX" and data.lstrip()[:1] in (b"{", b"[")):
        _parse_stix2(data, builder, source)
    elif name == "STIX":
        _parse_stix1(data, builder, source)
    else:
        _TEXT_PARSERS[name](_text(data, source), builder, source, csv_column)
    if len(builder) == 0 and builder.bad_count:
        first = builder.first_bad()
        where = f"; line {first.line}: {first.reason}: {first.text!r}" if first else ""
        raise IntelError(
            f"{source}: no usable entry in {builder.bad_count} bad line(s) — "
            f"is it really {name}?{where}"
        )
    return builder.build()


def _text(data: bytes, source: str) -> str:
    if data[:2] == b"\x1f\x8b":
        raise IntelError(f"{source}: gzip-compressed data; decompress it first")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise IntelError(f"{source}: not UTF-8 text (byte {exc.start}, line {line})") from exc
    if "\x00" in text[:4096]:
        raise IntelError(f"{source}: binary data, not a text list")
    return text[1:] if text.startswith("\ufeff") else text


def _lines(text: str, builder: ListBuilder) -> Iterator[tuple[int, str]]:
    """Numbered, stripped, non-blank lines; sets ``builder.lines`` once done."""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if line:
            yield number, line
    builder.lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def _ip_or_domain(builder: ListBuilder, value: str, threat: str | None) -> None:
    """A single address or an exact domain (no CIDR, range or wildcard)."""
    if not value:
        raise ValueError("empty indicator")
    if ":" in value or _V4_CHARS.issuperset(value):
        builder.add_ip(value, threat)
    else:
        builder.add_domain(value, threat)


# ---------------------------------------------------------------------------------------------
# line formats


def _parse_txt(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    add, bad = builder.add_token, builder.bad
    for number, line in _lines(text, builder):
        if line[0] == "#":
            continue
        token = line
        if "#" in token:
            token = token.split("#", 1)[0].rstrip()
        if ";" in token:
            token = token.split(";", 1)[0].rstrip()
        if not token:
            continue
        if " " in token or "\t" in token:
            bad(number, line, "more than one entry on the line")
            continue
        try:
            add(token)
        except ValueError as exc:
            bad(number, line, str(exc))


_FIREHOL_KIND = re.compile(r"^ipv[46] hash:(?:net|ip)\b")


def _parse_firehol(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    header: list[str] = []
    threat: str | None = None
    in_header = True
    bad = builder.bad
    for number, line in _lines(text, builder):
        if line[0] == "#":
            if in_header:
                comment = line[1:].strip()
                if comment:
                    header.append(comment)
                if threat is None and _FIREHOL_KIND.match(comment) and header[:1]:
                    first = header[0]
                    if " " not in first and first != comment:
                        threat = first
            continue
        in_header = False
        token = line.split("#", 1)[0].strip()
        if " " in token or "\t" in token:
            bad(number, line, "more than one entry on the line")
            continue
        try:
            if "-" in token:
                first_ip, _, last_ip = token.partition("-")
                builder.add_range(first_ip.strip(), last_ip.strip(), threat)
            else:
                builder.add_address(token, threat)
        except ValueError as exc:
            bad(number, line, str(exc))


_HOSTS_SKIP = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)


def _parse_hosts(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    bad = builder.bad
    probe = ListBuilder()
    for number, line in _lines(text, builder):
        if line[0] == "#":
            continue
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        names = [n for n in fields[1:] if n.lower() not in _HOSTS_SKIP]
        if len(fields) > 1 and not names:
            continue  # the loopback lines every hosts file starts with
        try:
            probe.add_ip(fields[0])
        except ValueError:
            bad(number, line, "hosts line does not start with an address")
            continue
        if len(fields) == 1:
            bad(number, line, "address without host names")
        for name in names:
            try:
                builder.add_domain(name)
            except ValueError as exc:
                bad(number, line, f"{name[:60]}: {exc}")


_ADBLOCK_HARMLESS = frozenset({"important", "all", "document", "doc", "third-party", "3p"})


def _parse_adblock(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    bad = builder.bad
    for number, line in _lines(text, builder):
        first = line[0]
        if first in "![" or (first == "#" and not line.startswith("##")):
            continue  # comments and the "[Adblock Plus 2.0]" header
        if line.startswith("||"):
            rule, _, options = line[2:].partition("$")
            if not rule.endswith("^") or "/" in rule or "*" in rule or "^" in rule[:-1]:
                builder.skipped += 1  # a URL or wildcard rule, not a whole domain
                continue
            if options and not {o.strip().lower() for o in options.split(",")} <= (
                _ADBLOCK_HARMLESS
            ):
                builder.skipped += 1  # client-, type- or rewrite-specific rule
                continue
            domain = rule[:-1]
            try:
                builder.add_domain(domain)
                builder.add_wildcard(domain)
            except ValueError as exc:
                bad(number, line, str(exc))
        elif (
            line.startswith(("@@", "|", "/"))
            or "##" in line
            or "#@#" in line
            or "#?#" in line
            or "#$#" in line
            or "$" in line
            or "^" in line
            or "*" in line
        ):
            builder.skipped += 1  # exception, cosmetic, regex and URL rules
        else:
            bad(number, line, "not an adblock rule (expected ||domain^)")


def _parse_alien_vault(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    bad = builder.bad
    for number, line in _lines(text, builder):
        if line[0] == "#":
            continue
        fields = line.split("#")
        if len(fields) < 4:
            bad(number, line, "not an AlienVault reputation line (IP#reliability#risk#type…)")
            continue
        indicator = fields[0].strip()
        threat = ", ".join(t.strip() for t in fields[3].split(";") if t.strip()) or None
        try:
            _ip_or_domain(builder, indicator, threat)
        except ValueError as exc:
            bad(number, line, str(exc))


# ---------------------------------------------------------------------------------------------
# CSV formats


def _csv_rows(text: str, builder: ListBuilder) -> Iterator[tuple[int, list[str]]]:
    """Rows with their first line number; blank rows dropped; csv errors become bad lines."""
    reader = csv.reader(io.StringIO(text), **_CSV_OPTIONS)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            builder.bad(start, f"(row at line {start})", f"unreadable CSV: {exc}")
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if row and any(field.strip() for field in row):
            yield number, row
    builder.lines = reader.line_num


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _header(row: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(row):
        columns.setdefault(_key(name), index)
    return columns


def _field(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _parse_otx(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    rows = _csv_rows(text, builder)
    header: dict[str, int] | None = None
    kind_col = value_col = desc_col = None
    for number, row in rows:
        if header is None:
            header = _header(row)
            kind_col, value_col = header.get("indicatortype"), header.get("indicator")
            desc_col = header.get("description")
            if kind_col is None or value_col is None:
                raise IntelError(
                    f"{source}: not an OTX CSV (header needs 'Indicator type' and 'Indicator',"
                    f" line {number} has {', '.join(c.strip() for c in row)[:120]!r})"
                )
            continue
        kind, value = _key(_field(row, kind_col)), _field(row, value_col)
        threat = _field(row, desc_col) or None
        try:
            if kind in ("ipv4", "ipv6", "cidr", "ip", "ipaddress"):
                builder.add_address(value, threat)
            elif kind in ("domain", "domainname", "hostname"):
                builder.add_domain(value, threat)
            elif not kind:
                raise ValueError("missing indicator type")
            else:
                builder.skipped += 1
        except ValueError as exc:
            builder.bad(number, ", ".join(row), str(exc))


def _parse_fire_eye(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    header: dict[str, int] | None = None
    cols: tuple[int | None, int | None, int | None] = (None, None, None)
    family = actor = None
    for number, row in _csv_rows(text, builder):
        if header is None:
            header = _header(row)
            cols = (header.get("cidr"), header.get("ip"), header.get("domain"))
            if "reportid" not in header or all(c is None for c in cols):
                raise IntelError(
                    f"{source}: not a FireEye iSIGHT CSV (header needs reportId and the "
                    f"cidr/ip/domain columns; line {number} has {', '.join(row)[:120]!r})"
                )
            family, actor = header.get("malwarefamily"), header.get("actor")
            continue
        threat = _field(row, family) or _field(row, actor) or None
        cidr, ip, domain = (_field(row, c) for c in cols)
        if not (cidr or ip or domain):
            builder.skipped += 1  # a file-hash or e-mail indicator row
            continue
        for value, add in (
            (cidr, builder.add_cidr),
            (ip, builder.add_ip),
            (domain, builder.add_domain),
        ):
            if value:
                try:
                    add(value, threat)
                except ValueError as exc:
                    builder.bad(number, ", ".join(row), f"{value[:60]}: {exc}")


#: Emerging Threats (Proofpoint ET Intelligence) reputation category ids and names.
ET_CATEGORIES: dict[str, str] = {
    "1": "CnC",
    "2": "Bot",
    "3": "Spam",
    "4": "Drop",
    "5": "SpywareCnC",
    "6": "OnlineGaming",
    "7": "DriveBySrc",
    "9": "ChatServer",
    "10": "TorNode",
    "13": "Compromised",
    "15": "P2P",
    "16": "Proxy",
    "17": "IPCheck",
    "19": "Utility",
    "20": "DDoSTarget",
    "21": "Scanner",
    "23": "Brute_Forcer",
    "24": "FakeAV",
    "25": "DynDNS",
    "26": "Undesirable",
    "27": "AbusedTLD",
    "28": "SelfSignedSSL",
    "29": "Blackhole",
    "30": "RemoteAccessService",
    "31": "P2PCnC",
    "33": "Parking",
    "34": "VPN",
    "35": "EXE_Source",
    "37": "Mobile_CnC",
    "38": "Mobile_Spyware_CnC",
    "39": "Skype_SuperNode",
    "40": "Bitcoin_Related",
    "41": "DDoSAttacker",
}


def _parse_proof_point(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    value_col, cat_col = 0, 1
    first = True
    for number, row in _csv_rows(text, builder):
        if first:
            first = False
            header = _header(row)
            if "category" in header or "ip" in header or "domain" in header:
                value_col = header.get("ip", header.get("domain", 0))
                cat_col = header.get("category", 1)
                continue
        value, category = _field(row, value_col), _field(row, cat_col)
        threat = ET_CATEGORIES.get(category, category) or None
        try:
            if "/" in value:
                builder.add_cidr(value, threat)
            else:
                _ip_or_domain(builder, value, threat)
        except ValueError as exc:
            builder.bad(number, ", ".join(row), str(exc))


def _parse_csv(text: str, builder: ListBuilder, source: str, column: str | None) -> None:
    want = _key(column) if column else None
    index: int | None = None
    last_comment = ""
    for number, row in _csv_rows(text, builder):
        if row[0].lstrip().startswith("#"):
            last_comment = ",".join(row).lstrip().lstrip("#")
            continue
        if index is None:
            header = _header(row)
            if want is None:
                index = 0
                continue
            if want in header:
                index = header[want]
                continue
            # abuse.ch and others comment their header out: then this row is already data
            commented = _header(next(csv.reader([last_comment], **_CSV_OPTIONS), []))
            if want not in commented:
                names = ", ".join(c.strip() for c in row)[:200]
                raise IntelError(f"{source}: no CSV column {column!r} (columns: {names})")
            index = commented[want]
        value = _field(row, index)
        try:
            if not value:
                raise ValueError("empty value")
            builder.add_token(value)
        except ValueError as exc:
            builder.bad(number, ",".join(row), str(exc))


# ---------------------------------------------------------------------------------------------
# STIX 1.x

_STIX = "{http://stix.mitre.org/stix-1}"
_CYBOX = "{http://cybox.mitre.org/cybox-2}"
_INDICATOR = "{http://stix.mitre.org/Indicator-2}"
_ADDRESS_VALUE = "{http://cybox.mitre.org/objects#AddressObject-2}Address_Value"
_DOMAIN_VALUE = "{http://cybox.mitre.org/objects#DomainNameObject-1}Value"
_HOSTNAME_VALUE = "{http://cybox.mitre.org/objects#HostnameObject-1}Hostname_Value"
_ROOTS = (f"{_STIX}STIX_Package", f"{_CYBOX}Observables")
_IP_CATEGORIES = frozenset({"", "ipv4-addr", "ipv6-addr", "ipv4-net", "ipv6-net"})


def _parse_stix1(data: bytes, builder: ListBuilder, source: str) -> None:
    if b"Address_Valuecondition=" in data:
        data = data.replace(b"Address_Valuecondition=", b"Address_Value condition=")
    root_seen = False
    title: str | None = None
    category = ""
    object_id = ""
    count = 0
    try:
        events = iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True)
        for event, element in events:
            tag = element.tag
            if not root_seen:
                if tag not in _ROOTS:
                    raise IntelError(
                        f"{source}: XML but not a STIX 1.x package (root element {tag!r})"
                    )
                root_seen = True
                continue
            if event == "start":
                if tag == f"{_CYBOX}Properties":
                    category = element.get("category", "")
                elif tag == f"{_CYBOX}Object" or tag == f"{_CYBOX}Observable":
                    object_id = element.get("id", object_id)
                elif tag == f"{_STIX}Indicator":
                    title = None
                continue
            if tag == f"{_INDICATOR}Title":
                title = (element.text or "").strip() or None
            elif tag in (_ADDRESS_VALUE, _DOMAIN_VALUE, _HOSTNAME_VALUE):
                count += 1
                _stix1_value(builder, element, count, object_id, category, title)
            elif tag == f"{_STIX}Indicator":
                title = None
                element.clear()
            elif tag == f"{_CYBOX}Observable":
                object_id = ""
                element.clear()
    except IntelError:
        raise
    except ParseError as exc:
        raise IntelError(f"{source}: not well-formed XML ({exc})") from exc
    except defusedxml.DefusedXmlException as exc:
        raise IntelError(
            f"{source}: refused XML ({exc!r}); DTDs and entities are not allowed"
        ) from exc
    if not root_seen:
        raise IntelError(f"{source}: empty XML document")
    builder.lines = count


def _stix1_value(
    builder: ListBuilder,
    element: Element,
    index: int,
    object_id: str,
    category: str,
    title: str | None,
) -> None:
    raw = (element.text or "").strip()
    where = f"{object_id}: {raw}" if object_id else raw
    is_address = element.tag == _ADDRESS_VALUE
    if is_address and category not in _IP_CATEGORIES:
        builder.skipped += 1  # e-mail, MAC, ASN… addresses
        return
    condition = element.get("condition", "Equals")
    apply = element.get("apply_condition", "ANY")
    values = [v.strip() for v in raw.split("##comma##")]
    try:
        if not raw:
            raise ValueError("empty value")
        if condition == "InclusiveBetween" and is_address:
            if len(values) == 1 and "," in raw:
                values = [v.strip() for v in raw.split(",")]
            if len(values) != 2:
                raise ValueError("InclusiveBetween needs exactly two addresses")
            builder.add_range(values[0], values[1], title)
            return
        if condition != "Equals":
            raise ValueError(f"condition {condition!r} cannot be matched")
        if apply not in ("ANY", "ALL") or (apply == "ALL" and len(values) > 1):
            raise ValueError(f"apply_condition {apply!r} cannot be matched")
        for value in values:
            if is_address:
                builder.add_address(value, title)
            else:
                builder.add_domain(value, title)
    except ValueError as exc:
        builder.bad(index, where, str(exc))


# ---------------------------------------------------------------------------------------------
# STIX 2.x

_SIMPLE_PATTERN = re.compile(
    r"^\[\s*(ipv4-addr|ipv6-addr|domain-name):value\s*=\s*'([^'\\]*)'\s*\]$"
)
_OUR_TYPES = frozenset({"ipv4-addr", "ipv6-addr", "domain-name"})


class _Unusable(Exception):
    """A pattern whose address/domain comparisons cannot be matched one value at a time."""


def _parse_stix2(data: bytes, builder: ListBuilder, source: str) -> None:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntelError(f"{source}: not a JSON STIX 2 bundle ({exc})") from exc
    if isinstance(document, dict) and isinstance(document.get("objects"), list):
        objects: list[Any] = document["objects"]
    elif isinstance(document, dict) and document.get("type") == "indicator":
        objects = [document]
    elif isinstance(document, list):
        objects = document
    else:
        raise IntelError(f"{source}: JSON but not a STIX 2 bundle (no 'objects' list)")
    builder.lines = len(objects)
    for index, obj in enumerate(objects, 1):
        if not isinstance(obj, dict):
            builder.bad(index, repr(obj)[:200], "not a STIX object")
            continue
        if obj.get("type") != "indicator":
            continue
        _stix2_indicator(builder, obj, index)


def _stix2_indicator(builder: ListBuilder, obj: dict[str, Any], index: int) -> None:
    ident = str(obj.get("id", f"object {index}"))
    pattern = obj.get("pattern")
    if obj.get("revoked") is True or obj.get("pattern_type", "stix") != "stix":
        builder.skipped += 1
        return
    if not isinstance(pattern, str):
        builder.bad(index, ident, "indicator without a pattern")
        return
    simple = _SIMPLE_PATTERN.match(pattern)
    if simple:
        values = [(simple.group(1), "=", simple.group(2))]
    else:
        try:
            values = _pattern_values(pattern)
        except _Unusable as exc:
            builder.bad(index, f"{ident}: {pattern}", str(exc))
            return
    if not values:
        builder.skipped += 1
        return
    threat = _stix2_threat(obj, {v for _, _, v in values})
    for kind, op, value in values:
        try:
            if kind == "domain-name":
                if op == "LIKE":
                    builder.add_wildcard(value[2:], threat)
                else:
                    builder.add_domain(value, threat)
            else:
                builder.add_address(value, threat)
        except ValueError as exc:
            builder.bad(index, f"{ident}: {value}", str(exc))


def _stix2_threat(obj: dict[str, Any], values: set[str]) -> str | None:
    name = obj.get("name")
    if isinstance(name, str) and name.strip() and name.strip() not in values:
        return name
    for key in ("indicator_types", "labels"):
        kinds = obj.get(key)
        if isinstance(kinds, list) and kinds and all(isinstance(k, str) for k in kinds):
            return ", ".join(kinds)
    return None


def _pattern_values(pattern: str) -> list[tuple[str, str, str]]:
    from stix2 import patterns as p
    from stix2.pattern_visitor import create_pattern_object

    try:
        tree = create_pattern_object(pattern)
    except Exception as exc:  # the pattern grammar raises several unrelated types
        raise _Unusable(f"invalid STIX pattern: {str(exc)[:120]}") from None

    found: list[tuple[str, str, str]] = []

    def ours(node: Any) -> bool:
        lhs = getattr(node, "lhs", None)
        return isinstance(lhs, p.ObjectPath) and lhs.object_type_name in _OUR_TYPES

    def mentions_ours(node: Any) -> bool:
        if ours(node):
            return True
        children = getattr(node, "operands", None) or []
        for attr in ("operand", "expression", "observation_expression"):
            child = getattr(node, attr, None)
            if child is not None:
                children = [*children, child]
        return any(mentions_ours(child) for child in children)

    def walk(node: Any) -> None:
        if isinstance(node, p.ParentheticalExpression):
            walk(node.expression)
        elif isinstance(node, p.ObservationExpression):
            walk(node.operand)
        elif isinstance(node, p.OrObservationExpression | p.OrBooleanExpression):
            for child in node.operands:
                walk(child)
        elif isinstance(
            node,
            p.AndObservationExpression
            | p.AndBooleanExpression
            | p.FollowedByObservationExpression
            | p.QualifiedObservationExpression,
        ):
            if mentions_ours(node):
                raise _Unusable("AND, FOLLOWEDBY or a qualifier cannot be matched per address")
        elif ours(node):
            comparison(node)

    def comparison(node: Any) -> None:
        kind = node.lhs.object_type_name
        path = node.lhs.property_path
        if len(path) != 1 or getattr(path[0], "property_name", None) != "value":
            raise _Unusable(f"only {kind}:value can be matched")
        if node.negated:
            raise _Unusable("negated comparison cannot be matched")
        if isinstance(node, p.InComparisonExpression):
            for constant in node.rhs.value:
                found.append((kind, "=", str(constant.value)))
            return
        value = str(getattr(node.rhs, "value", ""))
        if isinstance(node, p.EqualityComparisonExpression) or (
            isinstance(node, p.IsSubsetComparisonExpression) and kind != "domain-name"
        ):
            found.append((kind, "=", value))
        elif (
            isinstance(node, p.LikeComparisonExpression)
            and kind == "domain-name"
            and value.startswith("%.")
            and not any(c in value[2:] for c in "%_")
        ):
            found.append((kind, "LIKE", value))
        else:
            raise _Unusable(f"{node.operator} on {kind} cannot be matched")

    walk(tree)
    return found


# ---------------------------------------------------------------------------------------------
# format sniffing

_Parser = Callable[[str, ListBuilder, str, str | None], None]

_TEXT_PARSERS: dict[str, _Parser] = {
    "TXT": _parse_txt,
    "OTX_CSV": _parse_otx,
    "FIRE_EYE": _parse_fire_eye,
    "PROOF_POINT": _parse_proof_point,
    "ALIEN_VAULT": _parse_alien_vault,
    "CSV": _parse_csv,
    "FIREHOL": _parse_firehol,
    "HOSTS": _parse_hosts,
    "ADBLOCK": _parse_adblock,
}

_ALIEN_VAULT_LINE = re.compile(r"^[^#\s]+#\d+#\d+#[^#\n]*#")
_HOSTS_LINE = re.compile(r"^(?:0\.0\.0\.0|127\.0\.0\.1|::1?)\s+\S")


def sniff_format(data: bytes, name: str) -> str | None:
    """Guess a list's format from its first 64 KiB and its file name; None when unsure."""
    head = data[:65536].decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    lower_name = name.lower().rsplit("/", 1)[-1]
    if head.startswith("[Adblock"):
        return "ADBLOCK"
    if head.startswith("<"):
        return "STIX" if "STIX_Package" in head or "cybox" in head else None
    if head.startswith(("{", "[")):
        return "STIX2" if '"indicator"' in head or '"bundle"' in head else None
    if lower_name.endswith((".netset", ".ipset")) or re.search(
        r"^#\s*ipv[46] hash:(?:net|ip)", head, re.MULTILINE
    ):
        return "FIREHOL"
    lines = [line.strip() for line in head.split("\n")[:200]]
    data_lines = [line for line in lines if line and not line.startswith(("#", "!"))][:50]
    if not data_lines:
        return "TXT" if lines and lines[0].startswith("#") else None
    first = _key(data_lines[0].split(",")[0]) if "," in data_lines[0] else ""
    header = {_key(c) for c in data_lines[0].split(",")}
    if {"indicatortype", "indicator"} <= header:
        return "OTX_CSV"
    if {"reportid", "threatscape"} <= header:
        return "FIRE_EYE"
    if first in ("ip", "domain") and {"category", "score"} <= header:
        return "PROOF_POINT"
    if any(line.startswith("||") for line in data_lines[:20]):
        return "ADBLOCK"
    if sum(bool(_ALIEN_VAULT_LINE.match(line)) for line in data_lines) > len(data_lines) // 2:
        return "ALIEN_VAULT"
    if lower_name in ("hosts", "hosts.txt") or lower_name.endswith(".hosts"):
        return "HOSTS"
    if sum(bool(_HOSTS_LINE.match(line)) for line in data_lines) > len(data_lines) // 2:
        return "HOSTS"
    probe = ListBuilder()
    good = 0
    for line in data_lines:
        try:
            probe.add_token(line.split("#", 1)[0].split(";", 1)[0].strip())
            good += 1
        except ValueError:
            pass
    if good > len(data_lines) // 2:
        return "TXT"
    if lower_name.endswith(".csv"):
        return "CSV"
    return None
