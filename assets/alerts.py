"""The alerts assets: episodes projected from fit-health history, and their notifications."""

import dagster as dg
import polars as pl

from assets.columns import column_schema
from assets.fit import fit_health
from assets.guard import failing_for_good
from assets.resources import CornersResource
from store.alerts import project_shard_step, read_alerts, refresh_alerts
from store.outbox import notify
from store.publish import published_as_of

DESCRIPTION = (
    "One row per alert episode (a run of days on which a rule holds for a partnership), with "
    "a stable alert_id, severity, opened/resolved/last-seen days, owner and a one-line "
    "explanation (Delta published/alerts)."
)


def _refresh(context: dg.AssetExecutionContext, corners: CornersResource) -> dg.MaterializeResult:
    settings = corners.settings
    result = refresh_alerts(
        corners.layout, settings.alerts, settings.model.windows, settings.scale.shards
    )
    table = result.table
    open_now = table.filter(pl.col("status") == "open")
    context.log.info(
        f"{table.height} alert episodes, {open_now.height} open ({result.mode}"
        + (f" from {result.since}" if result.since else "")
        + ")"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "mode": result.mode,
            "delta_version": result.version,
            "shards_projected_by_their_steps": result.kept,
            "open": open_now.height,
            "open_by_rule": dg.MetadataValue.json(
                dict(open_now.group_by("rule").len().sort("rule").iter_rows())
            ),
            "open_by_severity": dg.MetadataValue.json(
                dict(open_now.group_by("severity").len().sort("severity").iter_rows())
            ),
        }
    )


@dg.asset(
    group_name="alerts",
    deps=[fit_health],
    description=DESCRIPTION,
    metadata=column_schema("alerts"),
)
@failing_for_good
def alerts(context: dg.AssetExecutionContext, corners: CornersResource) -> dg.MaterializeResult:
    return _refresh(context, corners)


def sharded_alerts(count: int) -> list[dg.AssetsDefinition]:
    """With `scale.shards` > 1: an asset per shard projecting its partnerships' episodes when
    the table is rebuilt (the executor runs them side by side; they keep nothing otherwise),
    and the alerts table written from them in one commit."""

    def shard_asset(shard: int) -> dg.AssetsDefinition:
        @dg.asset(
            name=f"alerts_shard_{shard}",
            group_name="alerts",
            deps=[fit_health],
            description=f"One row per alert episode of the partnerships of shard {shard} of "
            f"{count}, projected when the alerts table is rebuilt (kept in "
            "candidate/alerts_shards/ until it is written).",
            metadata=column_schema("alerts"),
        )
        @failing_for_good
        def project(context: dg.AssetExecutionContext, corners: CornersResource):
            settings = corners.settings
            plan = project_shard_step(
                corners.layout, settings.alerts, settings.model.windows, shard, count
            )
            context.log.info(f"shard {shard}: {plan.mode}")
            return dg.MaterializeResult(metadata={"mode": plan.mode})

        return project

    shards = [shard_asset(k) for k in range(count)]

    @dg.asset(
        name="alerts",
        group_name="alerts",
        deps=shards,
        description=DESCRIPTION,
        metadata=column_schema("alerts"),
    )
    @failing_for_good
    def written(context: dg.AssetExecutionContext, corners: CornersResource):
        return _refresh(context, corners)

    return [*shards, written]


@dg.asset(
    group_name="alerts",
    deps=[alerts],
    description="One row per alert transition (open, resolve, withdrawn) and sink in the "
    "append-only outbox (notifications/outbox), with every delivery outcome in "
    "notifications/deliveries: due by the state of the alerts table, sent at least once, never "
    "again once delivered; undelivered ones stay due until delivered or no longer due.",
    metadata=column_schema("outbox"),
)
@failing_for_good
def alert_notifications(
    context: dg.AssetExecutionContext, corners: CornersResource
) -> dg.MaterializeResult:
    home = corners.layout
    as_of = published_as_of(home)
    report = notify(home, corners.settings.alerts, read_alerts(home), as_of, log=context.log.info)
    for error in report.errors[:20]:
        context.log.warning(f"not delivered (due again next round): {error}")
    context.log.info(
        f"notifications: {report.enqueued} enqueued, {report.delivered} delivered, "
        f"{report.failed} failed, {report.held} held by snoozes, {report.dropped} dropped"
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": str(report.as_of),
            "enqueued": report.enqueued,
            "delivered": report.delivered,
            "failed": report.failed,
            "held": report.held,
            "dropped": report.dropped,
            "outbox": dg.MetadataValue.path(str(home.path("outbox"))),
        }
    )
