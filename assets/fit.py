"""Fit assets: the audited candidate rows and the published fit-health table."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets.ingest import EVENT_ASSETS
from pipelines import refresh as rf
from pipelines import store
from pipelines.resources import CornersResource


class RefreshConfig(dg.Config):
    """`as_of`: last day to compute (default yesterday, UTC); `rebuild`: recompute every day;
    `allow_future`: accept an as_of after today (UTC)."""

    as_of: str | None = None
    rebuild: bool = False
    allow_future: bool = False


def _bands(rows: pl.DataFrame) -> dict[str, int]:
    if rows.is_empty():
        return {}
    latest = rows.filter(pl.col("as_of") == pl.col("as_of").max().over("partnership_id"))
    return dict(latest.group_by("band").len().sort("band").iter_rows())


@dg.asset(
    group_name="fit",
    deps=["partnership_registry", *EVENT_ASSETS.values()],
    description="One row per partnership per day for the days this refresh recomputes "
    "(indicators, components, fit score, band, trend, drivers): the candidate the blocking "
    "checks audit before publication (Delta candidate/fit_health).",
)
def fit_health_candidate(
    context: dg.AssetExecutionContext, config: RefreshConfig, corners: CornersResource
) -> dg.MaterializeResult:
    as_of = (
        date.fromisoformat(config.as_of)
        if config.as_of
        else datetime.now(UTC).date() - timedelta(days=1)
    )
    home = corners.layout
    rf.check_as_of(home, as_of, rebuild=config.rebuild, allow_future=config.allow_future)
    plan = rf.plan_refresh(home, as_of, rebuild=config.rebuild)
    rows = rf.compute_candidate(home, corners.settings, plan)
    rf.write_candidate(home, rows, plan)
    context.log.info(f"candidate: {rows.height} rows, days {plan.start or 'all'}..{plan.as_of}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "mode": plan.mode,
            "first_day": str(plan.start or (rows["as_of"].min() if rows.height else "")),
            "as_of": str(plan.as_of),
            "partnerships_per_band": dg.MetadataValue.json(_bands(rows)),
        }
    )


@dg.asset(
    group_name="fit",
    deps=[fit_health_candidate],
    description="One row per partnership per day from started_on to min(ended_on, as_of): "
    "the published fit-health table (Delta published/fit_health), replaced only by "
    "candidates that pass their blocking checks.",
)
def fit_health(context: dg.AssetExecutionContext, corners: CornersResource):
    home = corners.layout
    rows, plan = rf.read_candidate(home)
    version = rf.publish(home, rows, plan)
    path = rf.fit_health_path(home)
    total = store.row_count(path)
    latest = pl.scan_delta(str(path)).filter(pl.col("as_of") == plan.as_of).collect()
    context.log.info(f"published {rows.height} rows (version {version})")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "rows_replaced": rows.height,
            "delta_version": version if version is not None else -1,
            "partnerships_per_band": dg.MetadataValue.json(_bands(latest)),
            "path": dg.MetadataValue.path(str(rf.fit_health_path(home))),
        }
    )
