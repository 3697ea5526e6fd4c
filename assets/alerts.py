"""The alerts assets: episodes projected from fit-health history, and their notifications."""

import dagster as dg
import polars as pl

from assets.fit import fit_health
from pipelines import refresh as rf
from pipelines.alerting import alerts_path, refresh_alerts
from pipelines.notify import notify, outbox_path
from pipelines.resources import CornersResource


@dg.asset(
    group_name="alerts",
    deps=[fit_health],
    description="One row per alert episode (a run of days on which a rule holds for a "
    "partnership), with a stable alert_id, severity, opened/resolved/last-seen days, owner "
    "and a one-line explanation (Delta published/alerts).",
)
def alerts(context: dg.AssetExecutionContext, corners: CornersResource) -> dg.MaterializeResult:
    result = refresh_alerts(corners.layout, corners.settings.alerts, corners.settings.model.windows)
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
    deps=[alerts],
    description="One row per alert transition (opened, resolved) and sink in the append-only "
    "outbox (notifications/outbox), with every delivery outcome in notifications/deliveries: "
    "sent at least once, never again once delivered; undelivered ones are retried on the next "
    "refresh.",
)
def alert_notifications(
    context: dg.AssetExecutionContext, corners: CornersResource
) -> dg.MaterializeResult:
    home = corners.layout
    last = rf.last_refresh(home)
    table = pl.read_delta(str(alerts_path(home)))
    report = notify(home, corners.settings.alerts, table, last["as_of"], log=context.log.info)
    for error in report.errors[:20]:
        context.log.warning(f"not delivered (will retry next refresh): {error}")
    context.log.info(
        f"notifications: {report.enqueued} enqueued, {report.delivered} delivered, "
        f"{report.failed} failed, {report.held} held by snoozes, {report.dropped} dropped (acked)"
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": str(report.as_of),
            "enqueued": report.enqueued,
            "delivered": report.delivered,
            "failed": report.failed,
            "held": report.held,
            "dropped": report.dropped,
            "outbox": dg.MetadataValue.path(str(outbox_path(home))),
        }
    )
