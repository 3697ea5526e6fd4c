"""The alerts asset: alert episodes projected from fit-health history."""

import dagster as dg
import polars as pl
from deltalake import DeltaTable, write_deltalake

from assets.fit import fit_health
from fitmodel.alerts import project
from pipelines import refresh as rf
from pipelines import store
from pipelines.resources import CornersResource


def alerts_path(home: store.Home):
    return home.published / "alerts"


@dg.asset(
    group_name="alerts",
    deps=[fit_health],
    description="One row per alert episode (a run of days on which a rule holds for a "
    "partnership), with a stable alert_id, severity, opened/resolved/last-seen days, owner "
    "and a one-line explanation (Delta published/alerts).",
)
def alerts(context: dg.AssetExecutionContext, corners: CornersResource) -> dg.MaterializeResult:
    home = corners.layout
    rules = corners.settings.alerts.rules
    history = DeltaTable(str(rf.fit_health_path(home))).to_pyarrow_dataset()
    table = project(
        history, {n: r.when for n, r in rules.items()}, {n: r.severity for n, r in rules.items()}
    )
    write_deltalake(
        str(alerts_path(home)), table.to_arrow(), mode="overwrite", schema_mode="overwrite"
    )
    open_now = table.filter(pl.col("status") == "open")
    context.log.info(f"{table.height} alert episodes, {open_now.height} open")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "open": open_now.height,
            "open_by_rule": dg.MetadataValue.json(
                dict(open_now.group_by("rule").len().sort("rule").iter_rows())
            ),
            "open_by_severity": dg.MetadataValue.json(
                dict(open_now.group_by("severity").len().sort("severity").iter_rows())
            ),
        }
    )
