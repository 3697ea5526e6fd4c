"""Fit assets: the audited candidate rows and the published fit-health table."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets.columns import column_schema
from assets.guard import alone, failing_for_good
from assets.resources import CornersResource
from store import delta
from store import publish as rf
from store.catalog import EVENT_ASSETS


class RefreshConfig(dg.Config):
    """`as_of`: last day to compute (default yesterday, UTC); `rebuild`: recompute every day;
    `allow_future`: accept an as_of after today (UTC)."""

    as_of: str | None = None
    rebuild: bool = False
    allow_future: bool = False


def _bands_on(rows: pl.DataFrame, day: date) -> dict[str, int]:
    """Partnerships per band on `day` among `rows`."""
    on_day = rows.filter(pl.col("as_of") == day)
    return dict(on_day.group_by("band").len().sort("band").iter_rows())


@dg.asset(
    group_name="fit",
    deps=["partnership_registry", *EVENT_ASSETS.values()],
    description="One row per partnership per day for the days this refresh recomputes "
    "(indicators, components, fit score, band, trend, drivers): the candidate the blocking "
    "checks audit before publication (Delta candidate/fit_health; its commit carries the plan).",
    metadata=column_schema("fit_health_candidate"),
)
@failing_for_good
def fit_health_candidate(
    context: dg.AssetExecutionContext, config: RefreshConfig, corners: CornersResource
) -> dg.MaterializeResult:
    alone(context, corners.layout)
    as_of = (
        date.fromisoformat(config.as_of)
        if config.as_of
        else datetime.now(UTC).date() - timedelta(days=1)
    )
    home = corners.layout
    rf.check_as_of(home, as_of, rebuild=config.rebuild, allow_future=config.allow_future)
    plan = rf.plan_refresh(home, as_of, corners.settings, rebuild=config.rebuild)
    rows = rf.compute_candidate(home, corners.settings, plan)
    rf.write_candidate(home, rows, plan)
    context.log.info(f"candidate: {rows.height} rows, days {plan.start or 'all'}..{plan.as_of}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "mode": plan.mode,
            "first_day": str(plan.start or (rows["as_of"].min() if rows.height else "")),
            "as_of": str(plan.as_of),
            "partnerships_per_band_on_as_of": dg.MetadataValue.json(_bands_on(rows, plan.as_of)),
        }
    )


@dg.asset(
    group_name="fit",
    deps=[fit_health_candidate],
    description="One row per partnership per day from started_on to min(ended_on, as_of): "
    "the published fit-health table (Delta published/fit_health), replaced only by "
    "candidates that pass their blocking checks.",
    metadata=column_schema("fit_health"),
)
@failing_for_good
def fit_health(context: dg.AssetExecutionContext, corners: CornersResource):
    home = corners.layout
    rows, plan = rf.read_candidate(home)
    version = rf.publish(home, rows, plan)
    path = home.path("fit_health")
    latest = pl.scan_delta(str(path)).filter(pl.col("as_of") == plan.as_of).collect()
    context.log.info(f"published {rows.height} rows (version {version})")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": delta.row_count(path),
            "rows_replaced": rows.height,
            "delta_version": version,
            "partnerships_per_band_on_as_of": dg.MetadataValue.json(_bands_on(latest, plan.as_of)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )
