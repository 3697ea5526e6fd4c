"""Keep the alerts table (`<home>/published/alerts`) in step with the published fit-health.

Each write records, in its Delta commit, the fit-health version it projects and a hash of the
rules: its position. The next update reads the fit-health publications since that version
(their plans, from the fit-health history): when they were all incremental it re-projects
only from the earliest replaced day (`fitmodel.alerts.update`); a rebuild, changed rules or no
previous table mean a projection of the whole history.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
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


def _last_commit(home: Home) -> dict:
    path = home.path("alerts")
    return DeltaTable(str(path)).history(1)[0] if delta.exists(path) else {}


def read_alerts(home: Home) -> pl.DataFrame:
    return delta.scan_table(home, "alerts").collect().cast(dict(ALERT_SCHEMA))


def refresh_alerts(
    home: Home, settings: AlertsConfig, windows: Windows, shards: int = 1
) -> AlertsUpdate:
    """Bring the alerts table up to date with the published fit-health and return it.

    A projection from scratch reads every published day: with `shards` > 1 it projects one
    shard's partnerships at a time (episodes are per partnership, so the table is the same),
    and holds a shard's rows rather than all of them (4.5 GB at 10,000 partnerships × 3
    years)."""
    path, source = home.path("alerts"), home.path("fit_health")
    rules = settings.rules
    texts = {"trend_days": windows.trend_days, "activity_days": windows.activity_days}
    version, key = delta.version(source), rules_hash(settings)
    last = _last_commit(home)
    mode, start = "rebuild", None
    if last.get(RULES_KEY) == key and last.get(SOURCE_KEY) is not None:
        seen = int(last[SOURCE_KEY])
        if seen == version:
            return AlertsUpdate(read_alerts(home), "unchanged", version=delta.version(path))
        since = positions(home, since=seen)
        starts = [plan.start for _, plan in since]
        if starts and all(s is not None for s in starts):
            mode, start = "incremental", min(starts)
    history = pl.scan_delta(str(source))
    if mode == "incremental":
        table = update(read_alerts(home), history, rules, start, **texts)
    elif shards == 1:
        table = project(history, rules, **texts)
    else:
        ids = history.select(P).unique().collect()[P]
        shard = shard_of(ids, shards)
        parts = [
            project(
                history.filter(pl.col(P).is_in(ids.filter(shard == k).implode())), rules, **texts
            )
            for k in range(shards)
        ]
        table = pl.concat(parts).sort(P, "rule", "opened_on")
    position = {SOURCE_KEY: str(version), RULES_KEY: key, MODE_KEY: mode}
    delta.replace(path, table, CommitProperties(custom_metadata=position))
    return AlertsUpdate(table, mode, start, delta.version(path))


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
