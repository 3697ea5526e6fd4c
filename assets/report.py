"""The report asset: a static HTML fit-health report per refresh."""

import dagster as dg

from assets.alerts import alert_notifications
from pipelines import refresh as rf
from pipelines.report import build_report
from pipelines.resources import CornersResource


@dg.asset(
    group_name="report",
    deps=[alert_notifications],
    description="One self-contained HTML page per refresh (reports/<as_of>.html): bands over "
    "time, biggest movers and their drivers, trends of partnerships at risk, corner "
    "distributions, data confidence, open alerts, restatements and data quality.",
)
def fit_health_report(
    context: dg.AssetExecutionContext, corners: CornersResource
) -> dg.MaterializeResult:
    home = corners.layout
    as_of = rf.last_refresh(home)["as_of"]
    path = build_report(home, corners.settings, as_of)
    context.log.info(f"report: {path}")
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "path": dg.MetadataValue.path(str(path)),
            "report": dg.MetadataValue.url(path.as_uri()),
            "size_kb": round(path.stat().st_size / 1024),
        }
    )
