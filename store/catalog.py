"""What every table corners keeps under `<home>` holds: its columns, with their meaning, added
to its place in `store.layout` (name, path, grain, partitioning, the asset that writes it).

The Dagster column schema of every asset, the schemas every writer casts to, and the empty
tables `corners query` shows before anything is written are all read from `CATALOG`; where a
table lives and README's data layout from `store.layout.PLACES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from fitmodel.alerts import ALERT_SCHEMA
from fitmodel.columns import FIT_HEALTH, RESTATEMENT_SCHEMA
from fitmodel.domain import STREAMS
from fitmodel.events import ENVELOPE, LINEAGE, stream_fields, stream_schema
from fitmodel.notifications import ACTION_SCHEMA
from fitmodel.validation import gates_schema, validation_schema
from store.layout import PLACES, Place

S, N, B, D = pl.String(), pl.Int64(), pl.Boolean(), pl.Date()
T = pl.Datetime("us", "UTC")

SQL_TYPES = {D: "DATE", S: "VARCHAR", N: "BIGINT"}
"""The SQL type of a partition column's type."""


@dataclass(frozen=True)
class Table(Place):
    """One Delta table of a home: its place and its columns."""

    columns: tuple[tuple[str, pl.DataType, str], ...] = ()
    """(name, type, meaning) of every column, in order."""

    @classmethod
    def at(cls, name: str, columns: tuple[tuple[str, pl.DataType, str], ...]) -> Table:
        """The table at `PLACES[name]` with `columns`."""
        place = PLACES[name]
        for column, sql_type in place.partition_by:
            dtype = dict((c, t) for c, t, _ in columns)[column]
            assert SQL_TYPES[dtype] == sql_type, (name, column, dtype, sql_type)
        return cls(**vars(place), columns=columns)

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({name: dtype for name, dtype, _ in self.columns})

    @property
    def descriptions(self) -> dict[str, str]:
        return {name: text for name, _, text in self.columns}


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


def _event_table(stream: str) -> Table:
    described = {spec.name: _field_meaning(spec) for spec in ENVELOPE}
    described["event_id"] = "Globally unique event id (across all streams)."
    described["partnership_id"] = "The partnership (registry id)."
    described["event_type"] = "The event's type (SPEC §1)."
    described["source"] = "Where it came from (optional)."
    described |= {spec.name: _field_meaning(spec) for spec in stream_fields(stream)}
    described |= _LINEAGE
    return Table.at(stream, _with(stream_schema(stream), described))


QUARANTINE = Table.at(
    "quarantine",
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
)

REGISTRY = Table.at(
    "registry",
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
)

INGEST_LOG = Table.at(
    "ingest_log",
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
)

_COMPUTED_AT = ("computed_at", T, "When the refresh that wrote the row computed it (UTC).")
_FIT_HEALTH_COLUMNS = (*((c.name, c.dtype, c.description) for c in FIT_HEALTH), _COMPUTED_AT)

CANDIDATE = Table.at(
    "fit_health_candidate",
    _FIT_HEALTH_COLUMNS,
)

FIT_HEALTH_TABLE = Table.at(
    "fit_health",
    _FIT_HEALTH_COLUMNS,
)

ALERTS = Table.at(
    "alerts",
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
)

RESTATEMENTS = Table.at(
    "restatements",
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
)

OUTBOX = Table.at(
    "outbox",
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
)

DELIVERIES = Table.at(
    "deliveries",
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
)

NOTIFICATION_RUNS = Table.at(
    "notification_runs",
    (
        ("as_of", D, "The as_of of the publication it followed."),
        ("enqueued", N, "Outbox rows enqueued (to sinks)."),
        ("delivered", N, "Transitions delivered."),
        ("failed", N, "Transitions that failed (due again next round)."),
        ("held", N, "Transitions held by snoozes."),
        ("dropped", N, "Transitions dropped (no longer due)."),
        ("ran_at", T, "When the round ran (UTC)."),
    ),
)

ALERT_ACTIONS = Table.at(
    "alert_actions",
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
RENEWAL_GATES = Table.at(
    "renewal_gates",
    _with(gates_schema([30, 60, 90]), _GATES),
)
VALIDATION = Table.at(
    "validation",
    _with(validation_schema(), _VALIDATION),
)
GATES_CANDIDATE = Table.at(
    "renewal_gates_candidate",
    RENEWAL_GATES.columns,
)
VALIDATION_CANDIDATE = Table.at(
    "validation_candidate",
    VALIDATION.columns,
)

CHECK_RESULTS = Table.at(
    "check_results",
    (
        ("check_name", S, "The Dagster asset check."),
        ("asset", S, "The asset it checks."),
        ("passed", B, "Whether every expectation held."),
        ("rows_checked", N, "Rows the check read."),
        ("failed_expectations", S, "JSON: each failed expectation with sample rows."),
        ("checked_at", T, "When (UTC)."),
    ),
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
"""Every table, by name, in `PLACES`' order."""
assert list(CATALOG) == list(PLACES), "every place has its columns, and only places have them"

QUARANTINE_SCHEMA = QUARANTINE.schema
REGISTRY_SCHEMA = REGISTRY.schema
LOG_SCHEMA = INGEST_LOG.schema
