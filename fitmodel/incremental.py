"""Incremental refresh of fit-health rows.

The rule: an event dated e can change only rows with d ≥ e (windows look back, never
forward; open escalations and days-since-last-event only carry forward). So given the earliest
event date touched since the last run, `affected`, a refresh recomputes the days
[min(affected, previous as_of + 1), as_of] and keeps every earlier row as it was. To compute
those rows the model reads events back to the longest window before them and recomputes the
`trend_days` rows before them too (the 30-day trend needs the score at d − 30); only the
affected days are replaced. A registry change (a start or end date moved) needs a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from fitmodel.columns import RESTATEMENT_SCHEMA
from fitmodel.indicators import DAY, Events, P, midnight
from fitmodel.score import TIE, iter_fit_health

if TYPE_CHECKING:
    from fitmodel.config import ModelConfig


def first_affected_day(affected: date | None, previous_as_of: date | None) -> date | None:
    """The first day whose row must be recomputed, or None for a full rebuild."""
    if previous_as_of is None:
        return None
    candidates = [previous_as_of + timedelta(days=1)]
    if affected is not None:
        candidates.append(affected)
    return min(candidates)


def last_seen(
    previous: pl.LazyFrame, events: Events, registry: pl.LazyFrame, day: date
) -> pl.LazyFrame:
    """Each partnership's last event date before `day`, from the previous rows of day − 1
    (its `days_since_last_event`); partnerships still running on `day` without such a row
    (new ones) are looked up in the events, which only reads events before `day` of those
    few partnerships."""
    before = day - timedelta(days=1)
    seeds = (
        previous.filter(pl.col(DAY) == before)
        .select(P, (pl.col(DAY) - pl.duration(days=pl.col("days_since_last_event"))).alias("_last"))
        .collect()  # one read of one day (one partition of the published table)
        .lazy()
    )
    # Only partnerships with rows from `day` on need it: not those that ended before.
    current = registry.filter(pl.col("ended_on").is_null() | (pl.col("ended_on") >= day))
    missing = current.select(P).join(seeds, on=P, how="anti").collect()[P]
    if missing.is_empty():
        return seeds.filter(pl.col("_last").is_not_null())
    cutoff = midnight(day)
    looked_up = pl.concat(
        [
            frame.filter(pl.col(P).is_in(missing.implode()) & (pl.col("occurred_at") < cutoff))
            .group_by(P)
            .agg(pl.col("occurred_at").max().dt.date().alias("_last"))
            for frame in (
                events.meetings,
                events.escalations,
                events.communications,
                events.surveys,
                events.governance,
            )
        ]
    )
    return pl.concat([seeds, looked_up]).filter(pl.col("_last").is_not_null())


def recompute(
    previous: pl.LazyFrame,
    events: Events,
    registry: pl.LazyFrame,
    as_of: date,
    config: ModelConfig,
    start: date | None,
    chunk_rows: int = 1_250_000,
) -> Iterator[pl.DataFrame]:
    """The rows to write, in chunks: days `start` through `as_of` (every day when `start` is
    None), seeded from `previous` (the rows published so far)."""
    if start is None:
        return iter_fit_health(events, registry, as_of, config, chunk_rows=chunk_rows)
    # Days before `start` are unchanged: the trend reads them from the published rows.
    trend_from = start - timedelta(days=config.windows.trend_days)
    earlier = previous.filter((pl.col(DAY) >= trend_from) & (pl.col(DAY) < start))
    return iter_fit_health(
        events,
        registry,
        as_of,
        config,
        start=start,
        last_seen=last_seen(previous, events, registry, start),
        chunk_rows=chunk_rows,
        earlier=earlier,
    )


def replace_days(previous: pl.LazyFrame, fresh: pl.LazyFrame, start: date | None) -> pl.LazyFrame:
    """`previous` with its days from `start` on replaced by `fresh` (what publishing does)."""
    kept = [] if start is None else [previous.filter(pl.col(DAY) < start)]
    return pl.concat([*kept, fresh]).sort(P, DAY)


def restatements(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The partnership-days present in both `before` (published) and `after` (recomputed)
    whose values differ (beyond float noise), with the fit score before and after and the
    names of the columns that changed."""
    columns = [c for c in after.columns if c in before.columns and c not in (P, DAY, "computed_at")]
    joined = before.select(P, DAY, *columns).join(
        after.select(P, DAY, *columns), on=[P, DAY], suffix="_new"
    )

    def apart(old: pl.Expr, new: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        if dtype.is_float():
            return (old.is_null() != new.is_null()) | ((old - new).abs() > TIE).fill_null(False)
        if isinstance(dtype, pl.Struct):
            return (old.is_null() != new.is_null()) | pl.any_horizontal(
                apart(old.struct.field(f.name), new.struct.field(f.name), f.dtype)
                for f in dtype.fields
            ).fill_null(False)
        return old.ne_missing(new)

    def differs(c: str) -> pl.Expr:
        return apart(pl.col(c), pl.col(f"{c}_new"), joined.schema[c])

    flags = [pl.when(differs(c)).then(pl.lit(c)) for c in columns]
    change = pl.col("fit_score_new") - pl.col("fit_score")
    return (
        joined.with_columns(pl.concat_list(flags).list.drop_nulls().alias("changed_columns"))
        .filter(pl.col("changed_columns").list.len() > 0)
        .select(
            P,
            DAY,
            pl.col("fit_score").alias("fit_score_before"),
            pl.col("fit_score_new").alias("fit_score_after"),
            change.alias("fit_score_change"),
            pl.col("band").alias("band_before"),
            pl.col("band_new").alias("band_after"),
            "changed_columns",
        )
        .sort(DAY, P)
        .cast(dict(RESTATEMENT_SCHEMA))
    )
