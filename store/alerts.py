"""Keep the alerts table (`<home>/published/alerts`) in step with the published fit-health.

Each write records, in its Delta commit, the fit-health version it projects and a hash of the
rules: its position. The next update reads the fit-health publications since that version
(their plans, from the fit-health history): when they were all incremental it re-projects
only from the earliest replaced day (`fitmodel.alerts.update`); a rebuild, changed rules or no
previous table mean a projection of the whole history, which with `scale.shards` > 1 each
shard's step projects for its partnerships (`project_shard_step`) before one commit writes
them all (`refresh_alerts`).

The acks and snoozes people record against an alert are appended beside it, to
`alert_actions` (`record_action`); `corners alerts` lists both.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake

from fitmodel.alerts import ALERT_SCHEMA, P, project, update
from fitmodel.notifications import ACTION_SCHEMA
from store import delta
from store.publish import positions
from store.shards import shard_of

if TYPE_CHECKING:
    from fitmodel.config import AlertsConfig, Windows
    from store.home import Home

SOURCE_KEY, RULES_KEY, MODE_KEY = "corners_fit_health_version", "corners_rules", "corners_mode"


def rules_hash(settings: AlertsConfig) -> str:
    rules = {n: [r.when, r.severity, r.for_days] for n, r in sorted(settings.rules.items())}
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertsUpdate:
    table: pl.DataFrame
    mode: str  # "rebuild", "incremental" or "unchanged"
    since: date | None = None
    version: int | None = None
    """The alerts table's Delta version after the update."""
    kept: int = 0
    """Shards whose episodes their own steps projected (a rebuild with shards)."""


def _last_commit(home: Home) -> dict:
    path = home.path("alerts")
    return DeltaTable(str(path)).history(1)[0] if delta.exists(path) else {}


def read_alerts(home: Home) -> pl.DataFrame:
    return delta.scan_table(home, "alerts").collect().cast(dict(ALERT_SCHEMA))


@dataclass(frozen=True)
class AlertsPlan:
    """What bringing the alerts table up to date takes, decided from the store alone (so
    every shard's process decides the same)."""

    mode: str  # "rebuild", "incremental" or "unchanged"
    start: date | None
    version: int
    """The published fit-health version it projects."""
    key: str
    """The hash of the rules it projects."""


def plan_alerts(home: Home, settings: AlertsConfig) -> AlertsPlan:
    version, key = delta.version(home.path("fit_health")), rules_hash(settings)
    last = _last_commit(home)
    if last.get(RULES_KEY) == key and last.get(SOURCE_KEY) is not None:
        seen = int(last[SOURCE_KEY])
        if seen == version:
            return AlertsPlan("unchanged", None, version, key)
        starts = [plan.start for _, plan in positions(home, since=seen)]
        if starts and all(s is not None for s in starts):
            return AlertsPlan("incremental", min(starts), version, key)
    return AlertsPlan("rebuild", None, version, key)


def _texts(windows: Windows) -> dict:
    return {"trend_days": windows.trend_days, "activity_days": windows.activity_days}


def project_shard(
    home: Home, settings: AlertsConfig, windows: Windows, shard: int, shards: int
) -> pl.DataFrame:
    """The episodes of one shard's partnerships over every published day (episodes are per
    partnership: the shards' episodes together are the table)."""
    history = delta.scan_table(home, "fit_health")
    ids = history.select(P).unique().collect()[P]
    mine = ids.filter(shard_of(ids, shards) == shard)
    return project(
        history.filter(pl.col(P).is_in(mine.implode())), settings.rules, **_texts(windows)
    )


def _kept(home: Home) -> Path:
    """Where the shards' steps keep their episodes until the table is written."""
    return home.root / "candidate" / "alerts_shards"


def shard_file(home: Home, plan: AlertsPlan, shard: int) -> Path:
    """Where a shard's step keeps its episodes for the plan it projected (its version and
    rules are in the name, so a file of another plan is never taken for this one's)."""
    return _kept(home) / f"v{plan.version}-{plan.key}" / f"{shard}.parquet"


def project_shard_step(
    home: Home, settings: AlertsConfig, windows: Windows, shard: int, shards: int
) -> AlertsPlan:
    """A shard's step: when the table needs a rebuild, project the shard and keep its
    episodes for `refresh_alerts`."""
    plan = plan_alerts(home, settings)
    if plan.mode == "rebuild":
        path = shard_file(home, plan, shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = project_shard(home, settings, windows, shard, shards)
        partial = path.with_suffix(".partial")
        rows.write_parquet(partial)
        partial.replace(path)  # whole or absent
    return plan


def refresh_alerts(
    home: Home, settings: AlertsConfig, windows: Windows, shards: int = 1
) -> AlertsUpdate:
    """Bring the alerts table up to date with the published fit-health and return it.

    A projection from scratch reads every published day: with `shards` > 1 it takes each
    shard's episodes, from the file its step kept (`project_shard_step`, run side by side)
    or projected here one shard at a time, and so holds a shard's rows rather than all of
    them (4.5 GB at 10,000 partnerships × 3 years)."""
    path = home.path("alerts")
    plan = plan_alerts(home, settings)
    if plan.mode == "unchanged":
        return AlertsUpdate(read_alerts(home), "unchanged", version=delta.version(path))
    history = delta.scan_table(home, "fit_health")
    kept = 0
    if plan.mode == "incremental":
        table = update(read_alerts(home), history, settings.rules, plan.start, **_texts(windows))
    elif shards == 1:
        table = project(history, settings.rules, **_texts(windows))
    else:
        parts = []
        for k in range(shards):
            file = shard_file(home, plan, k)
            if file.is_file():
                parts.append(pl.read_parquet(file))
                kept += 1
            else:
                parts.append(project_shard(home, settings, windows, k, shards))
        table = pl.concat(parts).cast(dict(ALERT_SCHEMA)).sort(P, "rule", "opened_on")
    position = {SOURCE_KEY: str(plan.version), RULES_KEY: plan.key, MODE_KEY: plan.mode}
    delta.replace(path, table, CommitProperties(custom_metadata=position))
    shutil.rmtree(_kept(home), ignore_errors=True)
    return AlertsUpdate(table, plan.mode, plan.start, delta.version(path), kept)


def listing(home: Home, *, open_only: bool = False, owner: str | None = None) -> pl.DataFrame:
    """The alert episodes, newest first, with who acknowledged them and until when they are
    snoozed (`corners alerts`)."""
    table = read_alerts(home)
    if open_only:
        table = table.filter(pl.col("status") == "open")
    if owner:
        table = table.filter(pl.col("owner") == owner)
    actions = delta.scan_table(home, "alert_actions").collect()
    acked = (
        actions.filter(pl.col("action") == "ack")
        .group_by("alert_id")
        .agg(pl.col("actor").sort_by("recorded_at").first().alias("acked_by"))
    )
    snoozed = (
        actions.filter(pl.col("action") == "snooze")
        .group_by("alert_id")
        .agg(pl.col("until").sort_by("recorded_at").last().alias("snoozed_until"))
    )
    return (
        table.join(acked, on="alert_id", how="left")
        .join(snoozed, on="alert_id", how="left")
        .sort("opened_on", "partnership_id", "rule", descending=[True, False, False])
        .select(
            "alert_id",
            "severity",
            "status",
            "opened_on",
            "resolved_on",
            "owner",
            "acked_by",
            "snoozed_until",
            "explanation",
            "partnership_id",
            "last_seen_on",
        )
    )


def one(home: Home, alert_id: str) -> dict | None:
    """The alerts table's row of `alert_id`, or None."""
    found = read_alerts(home).filter(pl.col("alert_id") == alert_id)
    return found.row(0, named=True) if found.height else None


def record_action(
    home: Home,
    alert: dict,
    action: str,
    actor: str,
    until: date | None = None,
    reason: str | None = None,
) -> dict:
    """Append an `ack` or `snooze` of `alert` (a row of the alerts table) to alert_actions,
    which the outbox reads to silence its transitions (`fitmodel.notifications.silenced`)."""
    at = datetime.now(UTC)
    row = {
        "action_id": f"{alert['alert_id']}:{action}:{at.isoformat()}",
        "alert_id": alert["alert_id"],
        "partnership_id": alert["partnership_id"],
        "action": action,
        "severity": alert["severity"],
        "until": until,
        "reason": reason,
        "actor": actor,
        "recorded_at": at,
    }
    write_deltalake(
        str(home.path("alert_actions")),
        pl.DataFrame([row], schema=ACTION_SCHEMA).to_arrow(),
        mode="append",
    )
    return row
