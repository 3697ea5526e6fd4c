"""Checks on the alerts table."""

import dagster as dg
import polars as pl
from great_expectations import expectations as gxe

from assets.alerts import alerts
from checks.ge import Check, recorded, run_checks
from pipelines import store
from pipelines.alerting import alerts_path
from pipelines.resources import CornersResource
from pipelines.store import REGISTRY_SCHEMA


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


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=alerts, blocking=True) for name in NAMES],
)
def alerts_checks(corners: CornersResource):
    home = corners.layout
    table = pl.read_delta(str(alerts_path(home)))
    registry = store.scan(home.registry, REGISTRY_SCHEMA).select("partnership_id").collect()
    open_now = table.filter(pl.col("status") == "open").select("alert_id", "partnership_id", "rule")
    checks = _checks(registry["partnership_id"].to_list())
    yield from recorded(
        home, "alerts", run_checks({"open": open_now}, checks, {"open": ["alert_id"]})
    )
