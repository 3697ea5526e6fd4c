"""Builders for landing folders and events used across the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
