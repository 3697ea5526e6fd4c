"""Builders for landing folders, events and fit-model inputs used across the tests: one set
of event builders (`meeting`, `communication`, …), the compact forms the golden tests use
(`meet`, `comm`, …) written on top of them, and frames for the model."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from fitmodel.config import ModelConfig
from fitmodel.events import stream_schema
from fitmodel.indicators import Events
from fitmodel.score import fit_health

REGISTRY_HEADER = (
    "partnership_id,name,partner_a,partner_b,industry_a,industry_b,owner,started_on,ended_on"
)
ROOT = Path(__file__).resolve().parents[1]


def registry_csv(rows: list[tuple[str, str, str]]) -> str:
    """rows: (partnership_id, started_on, ended_on)."""
    body = [
        f"{pid},{pid} deal,A Corp,B Corp,software,retail,owner.{pid.lower()},{start},{end}"
        for pid, start, end in rows
    ]
    return "\n".join([REGISTRY_HEADER, *body]) + "\n"


def write_registry(landing: Path, ids=("P1", "P2"), started="2024-01-01") -> None:
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "partnerships.csv").write_text(registry_csv([(i, started, "") for i in ids]))


def meeting(event_id: str, pid: str = "P1", at: str = "2024-03-01T10:00:00Z", **fields) -> dict:
    event = {
        "event_id": event_id,
        "event_type": "meeting",
        "partnership_id": pid,
        "occurred_at": at,
        "meeting_kind": "joint_problem_solving",
        "scheduled": False,
        "duration_minutes": 60,
        "attendees_a": 2,
        "attendees_b": 3,
        "ideas_generated": 1,
    }
    event.update(fields)
    return event


def communication(event_id: str, pid: str = "P1", at: str = "2024-03-01T10:00:00Z", **fields):
    event = {
        "event_id": event_id,
        "event_type": "communication",
        "partnership_id": pid,
        "occurred_at": at,
        "channel": "chat",
        "scheduled": False,
        "initiated_by": "a",
    }
    event.update(fields)
    return event


def escalation_opened(event_id, esc, pid="P1", at="2024-03-01T10:00:00Z", **fields):
    event = {
        "event_id": event_id,
        "event_type": "escalation_opened",
        "partnership_id": pid,
        "occurred_at": at,
        "escalation_id": esc,
        "severity": "high",
        "corner": "operations",
        "raised_by": "a",
    }
    event.update(fields)
    return event


def escalation_resolved(event_id, esc, pid="P1", at="2024-03-02T10:00:00Z", **fields):
    event = {
        "event_id": event_id,
        "event_type": "escalation_resolved",
        "partnership_id": pid,
        "occurred_at": at,
        "escalation_id": esc,
        "resolution": "joint",
    }
    event.update(fields)
    return event


def survey(event_id, pid="P1", at="2024-03-01T10:00:00Z", side="a", scores=(8, 8, 8, 8), **f):
    event = {
        "event_id": event_id,
        "event_type": "survey_response",
        "partnership_id": pid,
        "occurred_at": at,
        "respondent_side": side,
        **dict(zip(("culture", "operations", "strategy", "trust"), scores, strict=True)),
    }
    event.update(f)
    return event


def renewal_decision(event_id, gate_on, side="a", decision="reaffirm", pid="P1",
                     at="2024-07-01T10:00:00Z", **fields):  # fmt: skip
    event = {
        "event_id": event_id,
        "event_type": "renewal_decision",
        "partnership_id": pid,
        "occurred_at": at,
        "gate_on": gate_on,
        "side": side,
        "decision": decision,
    }
    event.update(fields)
    return event


def diagnostic(event_id, pid="P1", at="2024-01-05T10:00:00Z", side="a", scores=(8, 8, 8, 8), **f):
    event = {
        "event_id": event_id,
        "event_type": "diagnostic_response",
        "partnership_id": pid,
        "occurred_at": at,
        "respondent_side": side,
        **dict(
            zip(
                ("strategic_importance", "replaceability", "integration_depth", "risk_symmetry"),
                scores,
                strict=True,
            )
        ),
    }
    event.update(f)
    return event


def line(event: dict | str) -> str:
    return event if isinstance(event, str) else json.dumps(event)


def write_lines(path: Path, events: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line(e) + "\n" for e in events))
    return path


def corners(*args: str, env: dict | None = None, check: bool = False, timeout: float = 300):
    """Run the real `corners` command line in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"corners {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


# --- compact forms for the model's golden tests ---------------------------------------------


def comm(i, at, scheduled=False, by="a", p="P1"):
    return communication(f"c{i}", pid=p, at=at, scheduled=scheduled, initiated_by=by)


def meet(i, at, kind="joint_problem_solving", ideas=0, p="P1"):
    return meeting(f"m{i}", pid=p, at=at, meeting_kind=kind, ideas_generated=ideas)


def opened(i, esc, at, severity="high", corner="trust", p="P1"):
    return escalation_opened(f"o{i}", esc, pid=p, at=at, severity=severity, corner=corner)


def resolved(i, esc, at, p="P1"):
    return escalation_resolved(f"r{i}", esc, pid=p, at=at)


def surv(i, at, side, scores, p="P1"):
    return survey(f"s{i}", pid=p, at=at, side=side, scores=scores)


def decide(i, gate_on, side, decision, at, p="P1"):
    return renewal_decision(f"g{i}", gate_on, side=side, decision=decision, pid=p, at=at)


def diag(i, at, side, scores, p="P1"):
    return diagnostic(f"d{i}", pid=p, at=at, side=side, scores=scores)


# --- frames for the fit model ------------------------------------------------------------------

CONFIG = ModelConfig()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def table(stream: str, rows: list[dict]) -> pl.LazyFrame:
    """An event table of `stream` holding `rows` (events as builders make them)."""
    schema = stream_schema(stream)
    full = [{c: r.get(c) for c in schema} for r in rows]
    for r in full:
        if isinstance(r["occurred_at"], str):
            r["occurred_at"] = ts(r["occurred_at"])
        if isinstance(r.get("gate_on"), str):
            r["gate_on"] = date.fromisoformat(r["gate_on"])
    return pl.DataFrame(full, schema=schema).lazy()


REGISTRY_FRAME_SCHEMA = {
    "partnership_id": pl.String,
    "name": pl.String,
    "partner_a": pl.String,
    "partner_b": pl.String,
    "industry_a": pl.String,
    "industry_b": pl.String,
    "owner": pl.String,
    "started_on": pl.Date,
    "ended_on": pl.Date,
}


def reg(*rows) -> pl.LazyFrame:
    """A registry frame of (partnership_id, started_on, ended_on) rows."""
    data = [
        {
            "partnership_id": p,
            "name": f"{p} deal",
            "partner_a": "A",
            "partner_b": "B",
            "industry_a": "x",
            "industry_b": "y",
            "owner": "o",
            "started_on": s,
            "ended_on": e,
        }
        for p, s, e in rows
    ]
    return pl.DataFrame(data, schema=REGISTRY_FRAME_SCHEMA).lazy()


def run(
    as_of,
    registry=None,
    meetings=(),
    escalations=(),
    comms=(),
    surveys=(),
    governance=(),
    config=CONFIG,
):
    """The model's fit-health rows through `as_of` over these events."""
    events = Events(
        table("meetings", list(meetings)),
        table("escalations", list(escalations)),
        table("communications", list(comms)),
        table("surveys", list(surveys)),
        table("governance", list(governance)),
    )
    registry = registry if registry is not None else reg(("P1", date(2024, 1, 1), None))
    return fit_health(events, registry, as_of, config).collect()


def at(frame: pl.DataFrame, day: date, p: str = "P1") -> dict:
    """The one row of `p` on `day`."""
    rows = frame.filter((pl.col("partnership_id") == p) & (pl.col("as_of") == day))
    assert rows.height == 1, f"no single row for {p} {day}"
    return rows.row(0, named=True)
