"""Checks on the alerts table."""

import dagster as dg
import polars as pl
from great_expectations import expectations as gxe

from assets.alerts import alerts
from assets.resources import CornersResource
from checks.ge import Check, recorded, run_checks
from store import delta
from store.alerts import read_alerts


def _checks(partnerships: list[str]) -> list[Check]:
    return [
        Check(
            "alerts_one_open_episode_per_partnership_and_rule",
            "open",
            (gxe.ExpectCompoundColumnsToBeUnique(column_list=["partnership_id", "rule"]),),
            "At most one open episode per partnership and rule.",
        ),
        Check(
            "alerts_open_alerts_refer_to_registered_partnerships",
            "open",
            (gxe.ExpectColumnValuesToBeInSet(column="partnership_id", value_set=partnerships),),
            "Every open alert names a partnership in the registry.",
        ),
    ]


NAMES = [c.name for c in _checks([])]


def audit_alerts(alerts: pl.DataFrame, registry: pl.DataFrame) -> list[dg.AssetCheckResult]:
    """The alerts table's blocking checks, on frames."""
    open_now = alerts.filter(pl.col("status") == "open").select(
        "alert_id", "partnership_id", "rule"
    )
    checks = _checks(registry["partnership_id"].to_list())
    return run_checks({"open": open_now}, checks, {"open": ["alert_id"]})


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=alerts, blocking=True) for name in NAMES],
)
def alerts_checks(corners: CornersResource):
    home = corners.layout
    results = audit_alerts(read_alerts(home), delta.scan_table(home, "registry").collect())
    yield from recorded(home, "alerts", results)
