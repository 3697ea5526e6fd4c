"""The report asset: a static HTML fit-health report per refresh."""

import dagster as dg

from assets.alerts import alert_notifications
from assets.guard import failing_for_good
from assets.resources import CornersResource
from store.publish import published_as_of


@dg.asset(
    group_name="report",
    deps=[alert_notifications, "renewal_gates", "validation"],
    description="One self-contained HTML page per refresh (reports/<as_of>.html): bands over "
    "time, biggest movers and their drivers, trends of partnerships at risk, corner "
    "distributions, data confidence, open alerts, restatements and data quality.",
)
@failing_for_good
def fit_health_report(
    context: dg.AssetExecutionContext, corners: CornersResource
) -> dg.MaterializeResult:
    # Here, not at the top: plotly's import (0.2 s) then costs only this step's process on
    # an executor that starts one per step, not every step's.
    from store.report import build_report

    home = corners.layout
    as_of = published_as_of(home)
    path = build_report(home, corners.settings, as_of)
    context.log.info(f"report: {path} (open it with a browser from this machine)")
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "path": dg.MetadataValue.path(str(path)),
            "how_to_open": dg.MetadataValue.md(
                "Copy the path and open it in a browser on the machine that ran the refresh "
                "(a browser does not open `file://` links from the UI); or "
                f"`corners report --as-of {as_of}` prints it."
            ),
            "size_kb": round(path.stat().st_size / 1024),
        }
    )
