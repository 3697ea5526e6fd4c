"""Checks on the alerts table."""

import dagster as dg
import polars as pl

from assets.alerts import alerts
from assets.resources import CornersResource
from checks.ge import Check, GreatExpectations, expect, recorded, run_checks
from store import delta
from store.alerts import read_alerts

CHECKS = [
    Check(
        "alerts_one_open_episode_per_partnership_and_rule",
        "open",
        (expect("ExpectCompoundColumnsToBeUnique", column_list=["partnership_id", "rule"]),),
        "At most one open episode per partnership and rule.",
    ),
    Check(
        "alerts_open_alerts_refer_to_registered_partnerships",
        "open",
        (expect("ExpectColumnValuesToBeInSet", column="registered", value_set=[True]),),
        "Every open alert names a partnership in the registry.",
    ),
]
NAMES = [c.name for c in CHECKS]


def audit_alerts(alerts: pl.DataFrame, registry: pl.DataFrame) -> list[dg.AssetCheckResult]:
    """The alerts table's blocking checks, on frames. Whether an alert's partnership is
    registered is looked up with a join here: a value set of every registered id would be
    copied expectation by expectation (seconds for 10,000 partnerships)."""
    open_now = alerts.filter(pl.col("status") == "open").select(
        "alert_id",
        "partnership_id",
        "rule",
        pl.col("partnership_id").is_in(registry["partnership_id"].implode()).alias("registered"),
    )
    return run_checks({"open": open_now}, CHECKS, {"open": ["alert_id", "partnership_id"]})


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=alerts, blocking=True) for name in NAMES],
)
def alerts_checks(corners: CornersResource, great_expectations: GreatExpectations):
    home = corners.layout
    results = audit_alerts(read_alerts(home), delta.scan_table(home, "registry").collect())
    yield from recorded(home, "alerts", results)
