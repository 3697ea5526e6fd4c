"""Keep the alerts table (`<home>/published/alerts`) in step with the published fit-health.

Each write records, in its Delta commit, the fit-health version it projects and a hash of the
rules. The next update reads the refresh log for the publications since that version: when
they were all incremental it re-projects only from the earliest replaced day
(`fitmodel.alerts.update`); a rebuild, changed rules or no previous table mean a projection
of the whole history.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake

from fitmodel.alerts import project, update
from fitmodel.config import AlertsConfig, Windows
from pipelines import refresh as rf
from pipelines import store
from pipelines.refresh import REFRESH_LOG_SCHEMA
from pipelines.store import Home

SOURCE_KEY, RULES_KEY, MODE_KEY = "corners_fit_health_version", "corners_rules", "corners_mode"


def alerts_path(home: Home) -> Path:
    return home.published / "alerts"


def rules_hash(settings: AlertsConfig) -> str:
    rules = {n: [r.when, r.severity, r.for_days] for n, r in sorted(settings.rules.items())}
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertsUpdate:
    table: pl.DataFrame
    mode: str  # "rebuild", "incremental" or "unchanged"
    since: date | None = None


def _last_commit(path: Path) -> dict:
    return DeltaTable(str(path)).history(1)[0] if store.exists(path) else {}


def refresh_alerts(home: Home, settings: AlertsConfig, windows: Windows) -> AlertsUpdate:
    """Bring the alerts table up to date with the published fit-health and return it."""
    path, source = alerts_path(home), rf.fit_health_path(home)
    rules = settings.rules
    texts = {"trend_days": windows.trend_days, "activity_days": windows.activity_days}
    version, key = store.version(source), rules_hash(settings)
    last = _last_commit(path)
    mode, start = "rebuild", None
    if last.get(RULES_KEY) == key and last.get(SOURCE_KEY) is not None:
        seen = int(last[SOURCE_KEY])
        if seen == version:
            return AlertsUpdate(pl.read_delta(str(path)), "unchanged")
        since = (
            store.scan(rf.refresh_log_path(home), REFRESH_LOG_SCHEMA)
            .filter(pl.col("published_version") > seen)
            .select(pl.col("start").min(), pl.col("start").null_count().alias("rebuilds"))
            .collect()
        )
        if since["rebuilds"][0] == 0 and since["start"][0] is not None:
            mode, start = "incremental", since["start"][0]
    history = pl.scan_delta(str(source))
    if mode == "incremental":
        table = update(pl.read_delta(str(path)), history, rules, start, **texts)
    else:
        table = project(history, rules, **texts)
    write_deltalake(
        str(path),
        table.to_arrow(),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=CommitProperties(
            custom_metadata={SOURCE_KEY: str(version), RULES_KEY: key, MODE_KEY: mode}
        ),
    )
    return AlertsUpdate(table, mode, start)
