"""Every table corners keeps under `<home>`, declared once: its name, path, columns (with
their meaning), partitioning, grain and the Dagster asset that writes it.

`Home.tables()`, `corners query`'s table names, the crash tests' list of tables, README's data
layout and the Dagster column schema of every asset are all read from `CATALOG`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fitmodel.alerts import ALERT_SCHEMA
from fitmodel.columns import FIT_HEALTH, RESTATEMENT_SCHEMA
from fitmodel.events import ENVELOPE, LINEAGE, STREAMS, stream_fields, stream_schema
from fitmodel.notifications import ACTION_SCHEMA
from fitmodel.validation import gates_schema, validation_schema

S, N, B, D = pl.String(), pl.Int64(), pl.Boolean(), pl.Date()
T = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Table:
    """One Delta table of a home."""

    name: str
    """Its name in `corners query` and in this catalog."""
    path: str
    """Where it lives, relative to the home."""
    grain: str
    """What one row is."""
    columns: tuple[tuple[str, pl.DataType, str], ...]
    """(name, type, meaning) of every column, in order."""
    partition_by: tuple[str, ...] = ()
    asset: str | None = None
    """The Dagster asset that writes it (None: written by the command line or a step)."""
    kind: str = field(default="table")
    """`table`, or `log` (append-only history of what corners did)."""
    uniform_files: bool = False
    """Whether every file of a version has the table's columns (a change of columns rewrites
    them all), so a reader need not unify the files' schemas."""

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({name: dtype for name, dtype, _ in self.columns})

    @property
    def descriptions(self) -> dict[str, str]:
        return {name: text for name, _, text in self.columns}

    def location(self, root: Path) -> Path:
        return root / self.path


def _with(schema: pl.Schema, described: dict[str, str]) -> tuple[tuple[str, pl.DataType, str]]:
    """Columns of `schema` with their meanings; every column must be described."""
    missing = [c for c in schema if c not in described]
    if missing:
        raise AssertionError(f"undescribed columns: {missing}")
    return tuple((name, dtype, described[name]) for name, dtype in schema.items())


_LINEAGE = {
    "extra": "Unknown fields of the line, as key-sorted JSON text (null when none).",
    "content_hash": "md5 of the event as parsed JSON (key order and spacing ignored).",
    "ingested_at": "When the ingest that stored it ran (UTC).",
    "source_file": "The landing file, relative to the landing folder.",
    "file_hash": "SHA-256 of the landing file's bytes.",
    "line_number": "The line of the file it was read from (1-based, physical).",
    "ingest_batch": "The ingest batch that stored it.",
}
assert set(_LINEAGE) == set(LINEAGE)


def _field_meaning(spec) -> str:
    if spec.kind == "enum":
        return f"One of {', '.join(spec.values)}."
    if spec.kind == "int":
        high = "" if spec.high is None else f"..{spec.high}"
        return f"Integer {spec.low}{high}."
    if spec.kind == "timestamp":
        return "When it happened, normalised to UTC."
    if spec.kind == "date":
        return "An ISO date (a JSON string YYYY-MM-DD in the landing line)."
    return {"bool": "true or false.", "str": "Text."}[spec.kind]


EVENT_ASSETS = {
    "meetings": "meeting_events",
    "escalations": "escalation_events",
    "communications": "communication_events",
    "surveys": "survey_events",
    "governance": "governance_events",
}
"""The Dagster asset of each event table."""


def _event_table(stream: str) -> Table:
    described = {spec.name: _field_meaning(spec) for spec in ENVELOPE}
    described["event_id"] = "Globally unique event id (across all streams)."
    described["partnership_id"] = "The partnership (registry id)."
    described["event_type"] = "The event's type (SPEC §1)."
    described["source"] = "Where it came from (optional)."
    described |= {spec.name: _field_meaning(spec) for spec in stream_fields(stream)}
    described |= _LINEAGE
    return Table(
        stream,
        f"events/{stream}",
        f"One row per {EVENT_ASSETS[stream].removesuffix('_events')} event, append-only, "
        "unique by event_id",
        _with(stream_schema(stream), described),
        asset=EVENT_ASSETS[stream],
    )


QUARANTINE = Table(
    "quarantine",
    "quarantine",
    "One row per rejected landing line (file, line number), with every reason",
    (
        ("stream", S, "The stream folder the line was read from."),
        ("source_file", S, "The landing file, relative to the landing folder."),
        ("file_hash", S, "SHA-256 of the landing file's bytes."),
        ("line_number", N, "The line of the file (1-based, physical)."),
        ("line", S, "The raw line."),
        ("reasons", pl.List(S), "Every SPEC §2 reason that applies."),
        ("event_id", S, "The line's event_id when it has one."),
        ("partnership_id", S, "The line's partnership_id when it has one."),
        ("ingested_at", T, "When it was quarantined (UTC)."),
        ("ingest_batch", S, "The ingest batch that quarantined it."),
    ),
    asset="quarantine",
)

REGISTRY = Table(
    "registry",
    "registry",
    "One row per partnership of the newest valid partnerships.csv",
    (
        ("partnership_id", S, "Unique partnership id."),
        ("name", S, "The partnership's name."),
        ("partner_a", S, "Side a."),
        ("partner_b", S, "Side b."),
        ("industry_a", S, "Side a's industry."),
        ("industry_b", S, "Side b's industry."),
        ("owner", S, "Who owns the partnership."),
        ("started_on", D, "First day of the partnership."),
        ("ended_on", D, "Last day (null: still running)."),
        ("source_file", S, "The registry file it came from."),
        ("file_hash", S, "SHA-256 of that file."),
        ("loaded_at", T, "When it replaced the previous registry (UTC)."),
    ),
    asset="partnership_registry",
)

INGEST_LOG = Table(
    "ingest_log",
    "ingest_log",
    "One row per landing file per ingest batch: lines read and where they went "
    "(kind file: first read; retry: quarantined lines moved, as signed counts)",
    (
        ("ingest_batch", S, "The ingest batch."),
        ("ingested_at", T, "When the ingest ran (UTC)."),
        ("kind", S, "file (first read) or retry (quarantined lines retried)."),
        ("stream", S, "The stream folder."),
        ("source_file", S, "The landing file."),
        ("file_hash", S, "SHA-256 of the file's bytes (a file is ingested once)."),
        ("lines_read", N, "Non-blank lines read (0 for a retry)."),
        ("stored", N, "Lines stored as events."),
        ("duplicates", N, "Lines dropped as duplicates of a stored event."),
        ("quarantined", N, "Lines quarantined (a retry counts the lines that left as negative)."),
    ),
    kind="log",
)

_COMPUTED_AT = ("computed_at", T, "When the refresh that wrote the row computed it (UTC).")
_FIT_HEALTH_COLUMNS = (*((c.name, c.dtype, c.description) for c in FIT_HEALTH), _COMPUTED_AT)

CANDIDATE = Table(
    "fit_health_candidate",
    "candidate/fit_health",
    "One row per partnership per day that the latest refresh recomputed, audited before "
    "publication (its commit carries the refresh plan)",
    _FIT_HEALTH_COLUMNS,
    asset="fit_health_candidate",
)

FIT_HEALTH_TABLE = Table(
    "fit_health",
    "published/fit_health",
    "One row per partnership per day from started_on to min(ended_on, as_of); each commit "
    "carries the publication's position (as_of, first day, mode, watermark)",
    _FIT_HEALTH_COLUMNS,
    partition_by=("as_of",),
    asset="fit_health",
    uniform_files=True,  # a change of the published columns rebuilds every day
)

ALERTS = Table(
    "alerts",
    "published/alerts",
    "One row per alert episode: a run of days on which a rule holds for a partnership",
    _with(
        ALERT_SCHEMA,
        {
            "alert_id": "<partnership>:<rule>:<opened_on>, stable for the episode.",
            "partnership_id": "The partnership.",
            "rule": "The alert rule (configuration alerts.rules).",
            "severity": "warning or critical.",
            "opened_on": "The first day the rule holds.",
            "resolved_on": "The first day it no longer holds (null: still open).",
            "last_seen_on": "The last day it holds.",
            "status": "open or resolved.",
            "owner": "The partnership's owner.",
            "name": "The partnership's name.",
            "explanation": "One line: what holds, and the biggest driver of the trend.",
        },
    ),
    asset="alerts",
)

RESTATEMENTS = Table(
    "restatements",
    "published/restatements",
    "One row per already published partnership-day that a later publication changed",
    _with(
        pl.Schema(
            {
                **RESTATEMENT_SCHEMA,
                "refresh_as_of": D,
                "published_version": N,
                "restated_at": T,
            }
        ),
        {
            "partnership_id": "The partnership.",
            "as_of": "The restated day.",
            "fit_score_before": "Its fit score as published before.",
            "fit_score_after": "Its fit score now.",
            "fit_score_change": "after − before.",
            "band_before": "Its band before.",
            "band_after": "Its band now.",
            "changed_columns": "The columns whose values changed.",
            "refresh_as_of": "The as_of of the publication that restated it.",
            "published_version": "The fit_health version that restated it.",
            "restated_at": "When it was recorded (UTC).",
        },
    ),
    asset="fit_health",
    kind="log",
)

OUTBOX = Table(
    "outbox",
    "notifications/outbox",
    "One row per alert transition (open, resolve, withdrawn) and sink to notify, append-only; "
    "rows with an empty sink record a round's decision on an episode's opening (open: "
    "notified; seen: left unnotified by the first round)",
    (
        ("key", S, "<alert_id>:<transition>: the idempotency key a sink sees."),
        ("alert_id", S, "The episode."),
        ("transition", S, "open, resolve, withdrawn, or seen (a decision marker)."),
        ("transition_on", D, "The day of the transition (withdrawn: the round's as_of)."),
        ("partnership_id", S, "The partnership."),
        ("name", S, "The partnership's name."),
        ("owner", S, "The partnership's owner."),
        ("rule", S, "The alert rule."),
        ("severity", S, "warning or critical."),
        ("opened_on", D, "The episode's first day."),
        ("explanation", S, "The episode's one-line explanation when enqueued."),
        ("sink", S, "The sink (configuration alerts.sinks); empty for a decision marker."),
        ("as_of", D, "The as_of of the round that enqueued it."),
        ("enqueued_at", T, "When it was enqueued (UTC)."),
    ),
    asset="alert_notifications",
    kind="log",
)

DELIVERIES = Table(
    "deliveries",
    "notifications/deliveries",
    "One row per outbox row per delivery round: delivered, failed (stays due) or dropped "
    "(no longer due: acknowledged, resolved or gone before it was sent)",
    (
        ("key", S, "The outbox key."),
        ("sink", S, "The sink."),
        ("outcome", S, "delivered, failed or dropped."),
        ("message_key", S, "The Idempotency-Key sent (a digest covers several keys)."),
        ("attempts", N, "Attempts in this round."),
        ("status_code", N, "The sink's HTTP status (null: no answer)."),
        ("error", S, "Why it failed or was dropped."),
        ("as_of", D, "The as_of of the round."),
        ("recorded_at", T, "When it was recorded (UTC)."),
    ),
    asset="alert_notifications",
    kind="log",
)

NOTIFICATION_RUNS = Table(
    "notification_runs",
    "notifications/runs",
    "One row per notifying round: what it enqueued, delivered, failed, held and dropped",
    (
        ("as_of", D, "The as_of of the publication it followed."),
        ("enqueued", N, "Outbox rows enqueued (to sinks)."),
        ("delivered", N, "Transitions delivered."),
        ("failed", N, "Transitions that failed (due again next round)."),
        ("held", N, "Transitions held by snoozes."),
        ("dropped", N, "Transitions dropped (no longer due)."),
        ("ran_at", T, "When the round ran (UTC)."),
    ),
    asset="alert_notifications",
    kind="log",
)

ALERT_ACTIONS = Table(
    "alert_actions",
    "alert_actions",
    "One row per ack or snooze of an alert, append-only",
    _with(
        ACTION_SCHEMA,
        {
            "action_id": "Unique id of the action.",
            "alert_id": "The alert acted on.",
            "partnership_id": "Its partnership.",
            "action": "ack or snooze.",
            "severity": "The alert's severity.",
            "until": "Last snoozed day, inclusive (snooze only).",
            "reason": "Free text.",
            "actor": "Who acted.",
            "recorded_at": "When (UTC).",
        },
    ),
    kind="log",
)

_GATES = {
    "partnership_id": "The partnership.",
    "gate_on": "The renewal gate G (started_on + 6k months, clamped to the month's end).",
    "decision_a": "Side a's standing decision among those dated ≤ as_of (null: none).",
    "decision_b": "Side b's standing decision among those dated ≤ as_of (null: none).",
    "outcome": "reaffirmed, restructured, exited or unconfirmed, as of as_of.",
    "decided_on": "The date of the later standing decision (null: none).",
    "fit_score_at_gate": "The fit score at (p, G).",
    "band_at_gate": "The band at (p, G).",
}
for _h in (30, 60, 90):
    _GATES[f"fit_score_{_h}d_before"] = f"The fit score at (p, G − {_h}); null without that row."
    _GATES[f"band_{_h}d_before"] = f"The band at (p, G − {_h}); null without that row."
_VALIDATION = {
    "as_of": "The as_of of the publication.",
    "horizon_days": "h: the fit score is read h days before each gate.",
    "decided_gates": "Gates reaffirmed, restructured or exited.",
    "scored_gates": "Of those, the gates with a fit score h days before.",
    "failures": "Scored gates restructured or exited.",
    "auc": "P(a failed gate's score < a reaffirmed gate's), ties ½ (null without both).",
    **{
        f"{b}_{k}": f"Scored gates in band {b} h days before"
        + (", failed" if k == "failures" else "")
        for b in ("healthy", "watch", "at_risk")
        for k in ("gates", "failures")
    },
    "alert_recall": "Of the failed scored gates, the share with a critical alert open at G − h.",
    "alert_precision": "Of the scored gates with such an alert, the share that failed.",
}
_GATE_GRAIN = "One row per partnership and renewal gate on or before min(ended_on, as_of)"
_VALIDATION_GRAIN = "One row per horizon: how the fit score h days before predicted the gates"

RENEWAL_GATES = Table(
    "renewal_gates",
    "published/renewal_gates",
    _GATE_GRAIN + " (SPEC §10; columns per validation.horizons_days)",
    _with(gates_schema([30, 60, 90]), _GATES),
    asset="renewal_gates",
)
VALIDATION = Table(
    "validation",
    "published/validation",
    _VALIDATION_GRAIN + " (SPEC §10; rewritten by every publication)",
    _with(validation_schema(), _VALIDATION),
    asset="validation",
)
GATES_CANDIDATE = Table(
    "renewal_gates_candidate",
    "candidate/renewal_gates",
    _GATE_GRAIN + ", as the latest refresh computed it, audited before publication",
    RENEWAL_GATES.columns,
    asset="renewal_gates_candidate",
)
VALIDATION_CANDIDATE = Table(
    "validation_candidate",
    "candidate/validation",
    _VALIDATION_GRAIN + ", as the latest refresh computed it, audited before publication",
    VALIDATION.columns,
    asset="validation_candidate",
)

CHECK_RESULTS = Table(
    "check_results",
    "check_results",
    "One row per data-quality check per run, append-only",
    (
        ("check_name", S, "The Dagster asset check."),
        ("asset", S, "The asset it checks."),
        ("passed", B, "Whether every expectation held."),
        ("rows_checked", N, "Rows the check read."),
        ("failed_expectations", S, "JSON: each failed expectation with sample rows."),
        ("checked_at", T, "When (UTC)."),
    ),
    kind="log",
)

CATALOG: dict[str, Table] = {
    t.name: t
    for t in (
        *(_event_table(s) for s in STREAMS),
        QUARANTINE,
        REGISTRY,
        INGEST_LOG,
        CANDIDATE,
        FIT_HEALTH_TABLE,
        ALERTS,
        RESTATEMENTS,
        GATES_CANDIDATE,
        VALIDATION_CANDIDATE,
        RENEWAL_GATES,
        VALIDATION,
        OUTBOX,
        DELIVERIES,
        NOTIFICATION_RUNS,
        ALERT_ACTIONS,
        CHECK_RESULTS,
    )
}
"""Every table, by name."""

OTHER_PLACES = {
    "landing/": "the default landing folder: partnerships.csv + <stream>/**/*.jsonl[.gz]",
    "_staging/": "transient: sealed ingest batches being applied (crash recovery)",
    "reports/<as_of>.html": "the fit-health report of each refresh (self-contained HTML)",
    "dagster/": "the Dagster instance of this home (dagster.yaml, runs, logs)",
    "candidate/fit_health_shards/<k>/": "with scale.shards > 1: shard k's candidate rows "
    "(Delta; audited, then published with the others in one commit)",
    "backtests/<name>/": "a backtest (corners backtest): published/<table>/ as a home's, "
    "comparison/<frame>.parquet, report.html",
}
"""What a home holds besides tables."""

BACKTEST_LOCK = ".backtest.lock"
"""Held by a running backtest; a refresh run that finds it held stops before writing."""


def layout_text() -> str:
    """The data layout README shows (a test keeps README equal to it)."""
    rows = [(f"{t.path}/", f"{t.name}: {t.grain}") for t in CATALOG.values()]
    rows += list(OTHER_PLACES.items())
    width = max(len(p) for p, _ in rows) + 2
    return "\n".join(f"  {p:<{width}}{text}" for p, text in rows)


QUARANTINE_SCHEMA = QUARANTINE.schema
REGISTRY_SCHEMA = REGISTRY.schema
LOG_SCHEMA = INGEST_LOG.schema
