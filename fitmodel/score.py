"""Fit score, band, 30-day trend and its drivers (SPEC §5), over the indicator rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from fitmodel.columns import COMPONENTS
from fitmodel.events import CORNERS
from fitmodel.indicators import (
    DAY,
    INDICATOR_COLUMNS,
    Events,
    Inputs,
    P,
    daily_inputs,
    grid_indicators,
)

if TYPE_CHECKING:
    from fitmodel.config import ModelConfig

TIE = 1e-9
"""Float noise allowance: changes this close to the most negative one tie with it (the first
component wins), a change must be below -TIE to count as negative, and a score this close
below a band's threshold is in that band (70 on paper can be computed as 69.99999999999999)."""


def _inputs() -> dict[str, pl.Expr]:
    """The x of each component."""
    return {
        "survey": pl.mean_horizontal(*CORNERS),
        "collaboration": pl.col("problem_solving_90d")
        / pl.max_horizontal(pl.col("escalations_90d"), pl.lit(1)),
        "responsiveness": pl.col("median_resolution_days_90d"),
        "engagement": pl.col("unscheduled_comms_per_week"),
        "innovation": pl.col("ideas_90d").cast(pl.Float64),
        "balance": pl.col("comms_balance_90d"),
    }


def weight_sum(config: ModelConfig) -> pl.Expr:
    """W: the summed weights of the non-null components."""
    return pl.sum_horizontal(
        pl.when(pl.col(f"{n}_score").is_not_null())
        .then(getattr(config.components, n).weight)
        .otherwise(0.0)
        for n in COMPONENTS
    )


def share(name: str, config: ModelConfig) -> pl.Expr:
    """w·c / W for one component (W in `_weight`), a null component counting 0."""
    weight = getattr(config.components, name).weight
    return (weight * pl.col(f"{name}_score")).fill_null(0.0) / pl.col("_weight")


def score(frame: pl.LazyFrame, config: ModelConfig) -> pl.LazyFrame:
    """Add the component scores, `fit_score`, `band`, `score_change_30d`,
    `score_change_by_component` and `top_negative_driver` to indicator rows.

    The trend compares with the row 30 days earlier, which must be in `frame` (the rows are one
    per partnership per day, without gaps)."""
    inputs = _inputs()
    scores = []
    for name in COMPONENTS:
        c = getattr(config.components, name)
        x = inputs[name]
        scores.append(
            (100 * ((x - c.bad) / (c.good - c.bad)).clip(0.0, 1.0)).alias(f"{name}_score")
        )
    frame = frame.with_columns(scores).with_columns(weight_sum(config).alias("_weight"))
    weighted = pl.sum_horizontal(
        [
            (getattr(config.components, n).weight * pl.col(f"{n}_score")).fill_null(0.0)
            for n in COMPONENTS
        ]
    )
    bands = config.bands
    trend = config.windows.trend_days
    frame = frame.with_columns(
        pl.when(pl.col("_weight") >= config.min_weight)
        .then(weighted / pl.col("_weight"))
        .alias("fit_score"),
        *[share(n, config).alias(f"_share_{n}") for n in COMPONENTS],
    ).with_columns(
        pl.when(pl.col("fit_score").is_null())
        .then(pl.lit("insufficient_data"))
        .when(pl.col("fit_score") >= bands.healthy - TIE)
        .then(pl.lit("healthy"))
        .when(pl.col("fit_score") >= bands.watch - TIE)
        .then(pl.lit("watch"))
        .otherwise(pl.lit("at_risk"))
        .alias("band"),
    )
    # The row `trend` days earlier: rows are dense per partnership, so it is a shift when the
    # day matches.
    earlier = pl.col(DAY).shift(trend).over(P)
    has_earlier = (earlier == pl.col(DAY) - pl.duration(days=trend)).fill_null(False)
    change = pl.when(has_earlier).then(
        pl.col("fit_score") - pl.col("fit_score").shift(trend).over(P)
    )
    frame = frame.sort(P, DAY).with_columns(change.alias("score_change_30d"))
    defined = pl.col("score_change_30d").is_not_null()
    by_component = {
        n: pl.when(defined).then(pl.col(f"_share_{n}") - pl.col(f"_share_{n}").shift(trend).over(P))
        for n in COMPONENTS
    }
    lowest = pl.min_horizontal(*by_component.values())
    driver = pl.when(lowest.is_null() | (lowest >= -TIE)).then(None)
    for n, expr in by_component.items():
        # Shares that are equal on paper can differ in the last bit; those are ties too.
        driver = driver.when(expr <= lowest + TIE).then(pl.lit(n))
    return frame.with_columns(
        pl.struct(**by_component).alias("score_change_by_component"),
        driver.alias("top_negative_driver"),
        _confidence().alias("data_confidence"),
    ).drop("_weight", "_recent_surveys", *[f"_share_{n}" for n in COMPONENTS])


def _confidence() -> pl.Expr:
    """`high`: at least 5 of the 6 components and a survey response within
    `recent_survey_days`; `medium`: a fit score with a survey in its window, or with at least 5
    components; `low`: no fit score, or one resting on 4 or fewer activity components."""
    present = pl.sum_horizontal([pl.col(f"{n}_score").is_not_null() for n in COMPONENTS])
    return (
        pl.when(pl.col("fit_score").is_null())
        .then(pl.lit("low"))
        .when((present >= 5) & (pl.col("_recent_surveys") > 0))
        .then(pl.lit("high"))
        .when(pl.col("survey_score").is_not_null() | (present >= 5))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


SCORE_COLUMNS = [
    *[f"{n}_score" for n in COMPONENTS],
    "fit_score",
    "band",
    "score_change_30d",
    "score_change_by_component",
    "top_negative_driver",
    "data_confidence",
]
REGISTRY_COLUMNS = ["name", "partner_a", "partner_b", "industry_a", "industry_b", "owner"]
FIT_HEALTH_COLUMNS = [P, DAY, *REGISTRY_COLUMNS, *INDICATOR_COLUMNS, *SCORE_COLUMNS]


def fit_health(
    events: Events,
    registry: pl.LazyFrame,
    as_of: date,
    config: ModelConfig,
    start: date | None = None,
    last_seen: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """The fit-health rows (SPEC §4–§5 columns, registry attributes) for days ≥ `start`.

    With `start`, rows from `start` − trend days are computed too (the trend needs them) and
    then dropped; `last_seen` is as in `daily_inputs`, for that earlier day."""
    inputs = daily_inputs(events, as_of, config, _from_day(start, config), last_seen)
    return _rows(inputs, registry, registry, as_of, config, start)


def iter_fit_health(
    events: Events,
    registry: pl.LazyFrame,
    as_of: date,
    config: ModelConfig,
    start: date | None = None,
    last_seen: pl.LazyFrame | None = None,
    chunk_rows: int = 1_250_000,
    earlier: pl.LazyFrame | None = None,
) -> Iterator[pl.DataFrame]:
    """`fit_health`, computed and yielded for as many partnerships at a time as keep the
    grid under `chunk_rows` partnership-days: the events are aggregated per day once, and
    memory stays bounded however large the store (the rows are the same). Each chunk is
    ordered by day, so files written from it let readers of a day range skip the rest.

    `earlier`, with `start`: the already published indicator rows of the `trend_days` before
    `start`. The trend reads them instead of recomputing them, so the grid starts at `start`
    and `last_seen` is for that day."""
    from_day = start if earlier is not None else _from_day(start, config)
    inputs = daily_inputs(events, as_of, config, from_day, last_seen)
    ids = registry.select(P).collect()[P].sort()
    first = registry.select(pl.col("started_on").min()).collect().item()
    if first is not None and from_day is not None:
        first = max(first, from_day)
    span = max((as_of - first).days + 1, 1) if first is not None else 1
    size = max(1, chunk_rows // span)
    # Collected once: every indicator reads them, and a lazy plan would scan again per use.
    inputs = inputs.collect()
    if earlier is not None:
        earlier = earlier.select(P, DAY, *INDICATOR_COLUMNS).collect().lazy()
    if size >= len(ids):
        rows = _rows(inputs, registry, registry, as_of, config, start, from_day, earlier)
        yield rows.sort(DAY, P).collect()
        return
    for offset in range(0, len(ids), size):
        chunk = ids.slice(offset, size)
        part = registry.filter(pl.col(P).is_in(chunk.implode()))
        mine = None if earlier is None else earlier.filter(pl.col(P).is_in(chunk.implode()))
        rows = _rows(inputs.only(chunk), part, registry, as_of, config, start, from_day, mine)
        yield rows.sort(DAY, P).collect()


def _from_day(start: date | None, config: ModelConfig) -> date | None:
    return None if start is None else start - timedelta(days=config.windows.trend_days)


def _rows(
    inputs: Inputs,
    partnerships: pl.LazyFrame,
    registry: pl.LazyFrame,
    as_of: date,
    config: ModelConfig,
    start: date | None,
    from_day: date | None = None,
    earlier: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    if earlier is None:
        from_day = _from_day(start, config)
    indicators = grid_indicators(inputs, partnerships, as_of, config, from_day)
    if earlier is not None:
        # The published rows have no `_recent_surveys`; they only feed the trend.
        indicators = pl.concat([earlier, indicators], how="diagonal")
    rows = score(indicators, config)
    if start is not None:
        rows = rows.filter(pl.col(DAY) >= start)
    attrs = registry.select(P, *REGISTRY_COLUMNS)
    return rows.join(attrs, on=P, how="left").select(FIT_HEALTH_COLUMNS).sort(P, DAY)


def fit_health_schema() -> pl.Schema:
    """The columns and types of fit-health rows (from the model itself, on no data)."""
    from fitmodel.config import ModelConfig
    from fitmodel.domain import STREAMS
    from fitmodel.events import stream_schema

    events = Events(*(pl.LazyFrame(schema=stream_schema(s)) for s in STREAMS))
    registry = pl.LazyFrame(
        schema={
            P: pl.String,
            **{c: pl.String for c in REGISTRY_COLUMNS},
            "started_on": pl.Date,
            "ended_on": pl.Date,
        }
    )
    return fit_health(events, registry, date(2000, 1, 1), ModelConfig()).collect_schema()
