"""Times as CloudTrail writes them, and as users type them.

CloudTrail writes ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, seconds) in digests and the 16-character
stamp ``YYYYMMDDTHHMMSSZ`` in object keys.  Users may type any ISO 8601 time with any UTC
offset; it is converted to UTC (the AWS CLI drops the offset instead).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

_Z_FORM: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_STAMP_FORM: Final = re.compile(r"\d{8}T\d{6}Z")
HOUR: Final = timedelta(hours=1)


def parse_user_time(text: str) -> datetime:
    """An ISO 8601 time with any UTC offset (``Z``, ``+02:00``, ``-0530``), as aware UTC.

    A time without an offset is taken as UTC.  ValueError if it is not ISO 8601.
    """
    value = text.strip()
    if value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_z(text: object) -> datetime | None:
    """A CloudTrail time ``YYYY-MM-DDTHH:MM:SSZ``; None if ``text`` is not one."""
    if not isinstance(text, str) or not _Z_FORM.fullmatch(text):
        return None
    return _build(text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19])


def parse_stamp(text: str) -> datetime | None:
    """A key stamp ``YYYYMMDDTHHMMSSZ``; None if ``text`` is not one."""
    if not _STAMP_FORM.fullmatch(text):
        return None
    return _build(text[0:4], text[4:6], text[6:8], text[9:11], text[11:13], text[13:15])


def _build(year: str, month: str, day: str, hour: str, minute: str, second: str) -> datetime | None:
    # strptime costs ~40 us a call; verification parses a time per log file
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None


def fmt_z(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_stamp(dt: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC, the form of a digest key's stamp."""
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def floor_hour(dt: datetime) -> datetime:
    return dt.replace(minute=0, second=0, microsecond=0)


def day_folder(dt: datetime) -> str:
    """``YYYY/MM/DD``: the date folders of CloudTrail's keys."""
    return dt.astimezone(UTC).strftime("%Y/%m/%d")
