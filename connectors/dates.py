"""The one date parser: ISO 8601, RFC 2822, PDF `D:` dates and the other written forms
python-dateutil reads, always as aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from dateutil import parser as dateutil_parser

PDF_DATE = re.compile(r"^D:(\d{4,14})([Zz]|[+-]\d{2}'?\d{2})?'?$")
YEAR = re.compile(r"\d{4}")
MISSING = datetime(2000, 1, 1)


def parse_datetime(value: Any) -> datetime | None:
    """A datetime from a date, a datetime or text that names a full date (a year among it);
    naive means UTC. None when the value is empty or no date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        parsed = parse_text(str(value).strip())
        if parsed is None:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_text(text: str) -> datetime | None:
    """Parts a text leaves out (month, day, time) are the earliest ones, never today's."""
    match = PDF_DATE.match(text)
    if match:
        digits, zone = match.group(1), (match.group(2) or "").replace("'", "")
        text = digits + "0101000000"[len(digits) - 4 :] + ("+0000" if zone in ("Z", "z") else zone)
    if not YEAR.search(text):
        return None
    try:
        return dateutil_parser.parse(text, default=MISSING)
    except (ValueError, OverflowError):
        return None
