"""Fit assets: the audited candidate rows and the published fit-health table."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets.columns import column_schema
from assets.guard import alone, failing_for_good
from assets.resources import CornersResource
from store import delta
from store import publish as rf
from store.layout import EVENT_ASSETS


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
    # Before the event checks that wait beside it: its native work overlaps the import of
    # Great Expectations they need (`checks.ge.warm_up`).
    op_tags={"dagster/priority": "1"},
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
    count = corners.settings.scale.shards
    if count > 1:  # the shards' steps compute the rows; this records the plan they follow
        rf.write_candidate(home, rf.empty_candidate(), plan)
        context.log.info(f"plan for {count} shards: days {plan.start or 'all'}..{plan.as_of}")
        return dg.MaterializeResult(
            metadata={"mode": plan.mode, "as_of": str(plan.as_of), "shards": count}
        )
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
    context.log.info(f"published {rows.height} rows (version {version})")
    return _published(home, plan, version, rows.height)


def _published(home, plan, version: int, replaced: int, **more) -> dg.MaterializeResult:
    """The metadata of a publication: the table's rows, what it replaced, its version and
    the bands on as_of."""
    path = home.path("fit_health")
    latest = delta.scan_table(home, "fit_health").filter(pl.col("as_of") == plan.as_of).collect()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": delta.row_count(path),
            "rows_replaced": replaced,
            "delta_version": version,
            **more,
            "partnerships_per_band_on_as_of": dg.MetadataValue.json(_bands_on(latest, plan.as_of)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


def shard_key(shard: int) -> str:
    return f"fit_health_candidate_shard_{shard}"


def sharded(count: int) -> list[dg.AssetsDefinition]:
    """With `scale.shards` > 1: an asset per shard computing its candidate rows (the
    executor runs them side by side), and the publication of all of them in one commit."""

    def shard_asset(shard: int) -> dg.AssetsDefinition:
        @dg.asset(
            name=shard_key(shard),
            group_name="fit",
            deps=[fit_health_candidate],
            description=f"One row per partnership of shard {shard} of {count} per day this "
            f"refresh recomputes (Delta candidate/fit_health_shards/{shard}), audited before "
            "publication.",
            metadata=column_schema("fit_health_candidate"),
        )
        @failing_for_good
        def compute(context: dg.AssetExecutionContext, corners: CornersResource):
            home = corners.layout
            plan = rf.candidate_plan(home)
            rows = rf.compute_candidate(home, corners.settings, plan, shard=(shard, count))
            rf.write_candidate(home, rows, plan, shard=shard)
            context.log.info(f"shard {shard}: {rows.height} rows")
            return dg.MaterializeResult(
                metadata={
                    "dagster/row_count": rows.height,
                    "partnerships": rows["partnership_id"].n_unique(),
                    "partnerships_per_band_on_as_of": dg.MetadataValue.json(
                        _bands_on(rows, plan.as_of)
                    ),
                }
            )

        return compute

    shards = [shard_asset(k) for k in range(count)]

    @dg.asset(
        name="fit_health",
        group_name="fit",
        deps=shards,
        description="One row per partnership per day from started_on to min(ended_on, as_of): "
        "the published fit-health table (Delta published/fit_health), replaced in one commit "
        "by the shards' candidates once every shard passes its blocking checks.",
        metadata=column_schema("fit_health"),
    )
    @failing_for_good
    def publication(context: dg.AssetExecutionContext, corners: CornersResource):
        home = corners.layout
        plan = rf.candidate_plan(home)
        version, total = rf.publish_shards(home, plan, count)
        context.log.info(f"published {total} rows of {count} shards (version {version})")
        return _published(home, plan, version, total, shards=count)

    return [*shards, publication]
