"""The event schema of SPEC §1: streams, event types and their typed fields.

Everything that depends on the shape of events (validation, table schemas, sample data)
derives from the declarations here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

CORNERS = ("culture", "operations", "strategy", "trust")
DIMENSIONS = ("strategic_importance", "replaceability", "integration_depth", "risk_symmetry")
"""The 1–10 diagnostic (SPEC §9)."""


@dataclass(frozen=True)
class FieldSpec:
    """One typed JSON field. `kind` is str, enum, int, bool, timestamp or date (a JSON
    string holding an ISO date, `YYYY-MM-DD`)."""

    name: str
    kind: str
    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    required: bool = True

    @property
    def dtype(self) -> pl.DataType:
        return {
            "str": pl.String(),
            "enum": pl.String(),
            "int": pl.Int64(),
            "bool": pl.Boolean(),
            "timestamp": pl.Datetime("us", "UTC"),
            "date": pl.Date(),
        }[self.kind]


def _enum(name: str, *values: str) -> FieldSpec:
    return FieldSpec(name, "enum", values=values)


def _int(name: str, low: int, high: int | None = None) -> FieldSpec:
    return FieldSpec(name, "int", low=low, high=high)


SIDE = ("a", "b")

ENVELOPE = (
    FieldSpec("event_id", "str"),
    FieldSpec("event_type", "str"),
    FieldSpec("partnership_id", "str"),
    FieldSpec("occurred_at", "timestamp"),
    FieldSpec("source", "str", required=False),
)

EVENT_TYPES: dict[str, tuple[str, tuple[FieldSpec, ...]]] = {
    "meeting": (
        "meetings",
        (
            _enum(
                "meeting_kind",
                "joint_problem_solving",
                "steering_committee",
                "check_in",
                "workshop",
                "other",
            ),
            FieldSpec("scheduled", "bool"),
            _int("duration_minutes", 1, 1440),
            _int("attendees_a", 0),
            _int("attendees_b", 0),
            _int("ideas_generated", 0),
        ),
    ),
    "escalation_opened": (
        "escalations",
        (
            FieldSpec("escalation_id", "str"),
            _enum("severity", "low", "medium", "high", "critical"),
            _enum("corner", *CORNERS),
            _enum("raised_by", *SIDE),
        ),
    ),
    "escalation_resolved": (
        "escalations",
        (FieldSpec("escalation_id", "str"), _enum("resolution", "joint", "unilateral")),
    ),
    "communication": (
        "communications",
        (
            _enum("channel", "email", "chat", "call", "video", "in_person"),
            FieldSpec("scheduled", "bool"),
            _enum("initiated_by", *SIDE),
        ),
    ),
    "survey_response": (
        "surveys",
        (_enum("respondent_side", *SIDE), *(_int(c, 1, 10) for c in CORNERS)),
    ),
    "renewal_decision": (
        "governance",
        (
            FieldSpec("gate_on", "date"),
            _enum("side", *SIDE),
            _enum("decision", "reaffirm", "restructure", "exit"),
        ),
    ),
    "diagnostic_response": (
        "governance",
        (_enum("respondent_side", *SIDE), *(_int(d, 1, 10) for d in DIMENSIONS)),
    ),
}

FIRST_RELEASE_FIELDS = (
    "event_id",
    "event_type",
    "partnership_id",
    "occurred_at",
    "source",
    "meeting_kind",
    "scheduled",
    "duration_minutes",
    "attendees_a",
    "attendees_b",
    "ideas_generated",
    "escalation_id",
    "severity",
    "corner",
    "raised_by",
    "resolution",
    "channel",
    "initiated_by",
    "respondent_side",
    *CORNERS,
)
"""The fields of the first release, in the order their tokens are hashed: a content hash
stored then must stay what a line gives now (later fields are hashed after, by name, and only
when present)."""


def type_fields() -> dict[str, FieldSpec]:
    """Every type-specific field by name (a name shared by two types has one spec)."""
    fields: dict[str, FieldSpec] = {}
    for _, specs in EVENT_TYPES.values():
        for spec in specs:
            if fields.setdefault(spec.name, spec) != spec:
                raise AssertionError(f"field {spec.name} is declared twice with different specs")
    return fields


def types_with_field(name: str) -> list[str]:
    return [t for t, (_, specs) in EVENT_TYPES.items() if any(s.name == name for s in specs)]


def stream_fields(stream: str) -> list[FieldSpec]:
    """The type-specific fields stored in a stream's table, in declaration order."""
    seen: dict[str, FieldSpec] = {}
    for s, specs in EVENT_TYPES.values():
        if s == stream:
            for spec in specs:
                seen.setdefault(spec.name, spec)
    return list(seen.values())


LINEAGE = {
    "extra": pl.String(),
    "content_hash": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
    "source_file": pl.String(),
    "file_hash": pl.String(),
    "line_number": pl.Int64(),
    "ingest_batch": pl.String(),
}
"""Columns every event table carries beside the event's own fields."""


def stream_schema(stream: str) -> pl.Schema:
    """The column layout of `<home>/events/<stream>`."""
    cols = {s.name: s.dtype for s in ENVELOPE}
    cols.update({s.name: s.dtype for s in stream_fields(stream)})
    cols.update(LINEAGE)
    return pl.Schema(cols)
