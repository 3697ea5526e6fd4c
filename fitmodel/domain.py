"""The domain's names and bounds that need no frames: the event streams and the days corners
accepts. Nothing here imports polars, so the command line can name streams and check dates
before it loads any frame library."""

from __future__ import annotations

from datetime import date

STREAMS = ("meetings", "escalations", "communications", "surveys", "governance")

EARLIEST_DAY = date(1900, 1, 1)
"""No event or registry date before this is accepted: a date of year 1 breaks date arithmetic
and the grid it would span is nonsense."""

LATEST_DAY = date(2999, 12, 31)
"""Registry dates must lie in EARLIEST_DAY..LATEST_DAY (a year-1 start would make a refresh
span two thousand years of days)."""
