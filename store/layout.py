"""Where each table of a home lives: its name, path, grain, partitioning and the Dagster asset
that writes it. What each table holds (its columns) is `store.catalog`, which adds columns to
these places.

Nothing here imports a frame library, so `corners query` finds the tables a query names
without loading polars or pyarrow. README's data layout is `layout_text()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fitmodel.domain import STREAMS


@dataclass(frozen=True)
class Place:
    """Where one Delta table of a home lives."""

    name: str
    """Its name in `corners query` and in the catalog."""
    path: str
    """Where it lives, relative to the home."""
    grain: str
    """What one row is."""
    partition_by: tuple[tuple[str, str], ...] = ()
    """(column, SQL type) of each Hive partition column (the catalog checks the type against
    the column's)."""
    asset: str | None = None
    """The Dagster asset that writes it (None: written by the command line or a step)."""
    kind: str = field(default="table")
    """`table`, or `log` (append-only history of what corners did)."""
    uniform_files: bool = False
    """Whether every file of a version has the table's columns (a change of columns rewrites
    them all), so a reader need not unify the files' schemas."""

    def location(self, root: Path) -> Path:
        return root / self.path


EVENT_ASSETS = {
    "meetings": "meeting_events",
    "escalations": "escalation_events",
    "communications": "communication_events",
    "surveys": "survey_events",
    "governance": "governance_events",
}
"""The Dagster asset of each event table."""
assert set(EVENT_ASSETS) == set(STREAMS)


def _event_place(stream: str) -> Place:
    kind = EVENT_ASSETS[stream].removesuffix("_events")
    return Place(
        stream,
        f"events/{stream}",
        f"One row per {kind} event, append-only, unique by event_id",
        asset=EVENT_ASSETS[stream],
    )


_GATE_GRAIN = "One row per partnership and renewal gate on or before min(ended_on, as_of)"
_VALIDATION_GRAIN = "One row per horizon: how the fit score h days before predicted the gates"

PLACES: dict[str, Place] = {
    p.name: p
    for p in (
        *(_event_place(s) for s in STREAMS),
        Place(
            "quarantine",
            "quarantine",
            "One row per rejected landing line (file, line number), with every reason",
            asset="quarantine",
        ),
        Place(
            "registry",
            "registry",
            "One row per partnership of the newest valid partnerships.csv",
            asset="partnership_registry",
        ),
        Place(
            "ingest_log",
            "ingest_log",
            "One row per landing file per ingest batch: lines read and where they went "
            "(kind file: first read; retry: quarantined lines moved, as signed counts)",
            kind="log",
        ),
        Place(
            "fit_health_candidate",
            "candidate/fit_health",
            "One row per partnership per day that the latest refresh recomputed, audited "
            "before publication (its commit carries the refresh plan)",
            asset="fit_health_candidate",
        ),
        Place(
            "fit_health",
            "published/fit_health",
            "One row per partnership per day from started_on to min(ended_on, as_of); each "
            "commit carries the publication's position (as_of, first day, mode, watermark)",
            partition_by=(("as_of", "DATE"),),
            asset="fit_health",
            uniform_files=True,  # a change of the published columns rebuilds every day
        ),
        Place(
            "alerts",
            "published/alerts",
            "One row per alert episode: a run of days on which a rule holds for a partnership",
            asset="alerts",
        ),
        Place(
            "restatements",
            "published/restatements",
            "One row per already published partnership-day that a later publication changed",
            asset="fit_health",
            kind="log",
        ),
        Place(
            "renewal_gates_candidate",
            "candidate/renewal_gates",
            _GATE_GRAIN + ", as the latest refresh computed it, audited before publication",
            asset="renewal_gates_candidate",
        ),
        Place(
            "validation_candidate",
            "candidate/validation",
            _VALIDATION_GRAIN + ", as the latest refresh computed it, audited before publication",
            asset="validation_candidate",
        ),
        Place(
            "renewal_gates",
            "published/renewal_gates",
            _GATE_GRAIN + " (SPEC §10; columns per validation.horizons_days)",
            asset="renewal_gates",
        ),
        Place(
            "validation",
            "published/validation",
            _VALIDATION_GRAIN + " (SPEC §10; rewritten by every publication)",
            asset="validation",
        ),
        Place(
            "outbox",
            "notifications/outbox",
            "One row per alert transition (open, resolve, withdrawn) and sink to notify, "
            "append-only; rows with an empty sink record a round's decision on an episode's "
            "opening (open: notified; seen: left unnotified by the first round)",
            asset="alert_notifications",
            kind="log",
        ),
        Place(
            "deliveries",
            "notifications/deliveries",
            "One row per outbox row per delivery round: delivered, failed (stays due) or "
            "dropped (no longer due: acknowledged, resolved or gone before it was sent)",
            asset="alert_notifications",
            kind="log",
        ),
        Place(
            "notification_runs",
            "notifications/runs",
            "One row per notifying round: what it enqueued, delivered, failed, held and dropped",
            asset="alert_notifications",
            kind="log",
        ),
        Place(
            "alert_actions",
            "alert_actions",
            "One row per ack or snooze of an alert, append-only",
            kind="log",
        ),
        Place(
            "check_results",
            "check_results",
            "One row per data-quality check per run, append-only",
            kind="log",
        ),
    )
}
"""Every table, by name, in README's order."""

OTHER_PLACES = {
    "landing/": "the default landing folder: partnerships.csv + <stream>/**/*.jsonl[.gz]",
    "_staging/": "transient: sealed ingest batches being applied (crash recovery)",
    "reports/<as_of>.html": "the fit-health report of each refresh (self-contained HTML)",
    "dagster/": "the Dagster instance of this home (dagster.yaml, runs, logs)",
    "candidate/fit_health_shards/<k>/": "with scale.shards > 1: shard k's candidate rows "
    "(Delta; audited, then published with the others in one commit)",
    "candidate/alerts_shards/": "with scale.shards > 1, while the alerts are rebuilt: each "
    "shard's episodes (Parquet), until the alerts table is written from them",
    "backtests/<name>/": "a backtest (corners backtest): published/<table>/ as a home's, "
    "comparison/<frame>.parquet, report.html",
}
"""What a home holds besides tables."""

BACKTEST_LOCK = ".backtest.lock"
"""Held by a running backtest; a refresh run that finds it held stops before writing."""


def layout_text() -> str:
    """The data layout README shows (a test keeps README equal to it)."""
    rows = [(f"{p.path}/", f"{p.name}: {p.grain}") for p in PLACES.values()]
    rows += list(OTHER_PLACES.items())
    width = max(len(p) for p, _ in rows) + 2
    return "\n".join(f"  {p:<{width}}{text}" for p, text in rows)
