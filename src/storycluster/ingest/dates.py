"""Publication dates: ISO 8601, RFC 2822 or Unix timestamps, normalised to ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

_MILLISECONDS_FROM = 100_000_000_000  # a Unix timestamp this large (year 5138 in seconds) is in milliseconds


def parse_date(value: Any) -> str:
    """Normalise a date (ISO 8601, RFC 2822, or a Unix timestamp) to an ISO 8601 string in UTC.

    Dates without a time zone are taken as UTC. Raises ``ValueError`` for anything else.
    """
    try:
        return _parse_date(value)
    except (OverflowError, OSError):  # out of datetime's range: year 0, a huge timestamp
        raise ValueError(value) from None


def _parse_date(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
        parsed = datetime.fromtimestamp(seconds, tz=timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                raise ValueError(value) from None
    else:
        raise ValueError(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="seconds")
