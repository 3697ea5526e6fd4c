"""Small read-outs of a home for people: what the demo and the refresh print."""

from __future__ import annotations

from datetime import date

import polars as pl

from store import delta
from store.home import Home
from store.ingest import accounting


def ingest_totals(home: Home) -> dict[str, int]:
    """Lines read, stored, duplicates and quarantined over every ingested file."""
    sums = accounting(home).select(
        pl.col("lines_read", "stored", "duplicates", "quarantined").sum()
    )
    return {k: int(v or 0) for k, v in sums.row(0, named=True).items()}


def most_degraded(home: Home, as_of: date, n: int = 5) -> pl.DataFrame:
    """The `n` partnerships whose fit score fell most over the trend window, on `as_of`."""
    return (
        delta.scan_table(home, "fit_health")
        .filter((pl.col("as_of") == as_of) & pl.col("score_change_30d").is_not_null())
        .sort("score_change_30d")
        .head(n)
        .select(
            "partnership_id", "name", "fit_score", "score_change_30d", "band", "top_negative_driver"
        )
        .collect()
    )


def quarantine_reasons(home: Home) -> pl.DataFrame:
    """Quarantined lines per reason, most frequent first."""
    return (
        delta.scan_table(home, "quarantine")
        .select(pl.col("reasons").explode().alias("reason"))
        .group_by("reason")
        .len()
        .sort("len", "reason", descending=[True, False])
        .collect()
    )
