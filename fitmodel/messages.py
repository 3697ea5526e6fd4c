"""What people read about an alert transition: the one line, and the JSON of it (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Message:
    """One POST (or log line): `key` is its Idempotency-Key, `covers` the transition keys."""

    key: str
    covers: tuple[str, ...]
    text: str
    body: dict


def line(row: dict) -> str:
    """The one-line account of a transition (an outbox row)."""
    who = f"{row['name']} ({row['partnership_id']})" if row["name"] else row["partnership_id"]
    head = f"[{row['severity']}] {row['rule']}"
    if row["transition"] == "open":
        return f"{head} opened for {who} on {row['transition_on']}: {row['explanation']}"
    if row["transition"] == "withdrawn":
        return (
            f"{head} withdrawn for {who}: the episode opened on {row['opened_on']} is no longer "
            "in the alerts table (late data restated the days it rested on); as notified: "
            f"{row['explanation']}"
        )
    return (
        f"{head} resolved for {who} on {row['transition_on']}, open since {row['opened_on']}; "
        f"when last holding: {row['explanation']}"
    )


def payload(row: dict) -> dict:
    """The JSON of one transition."""
    return {
        "idempotency_key": row["key"],
        "alert_id": row["alert_id"],
        "transition": row["transition"],
        "on": row["transition_on"].isoformat(),
        "partnership_id": row["partnership_id"],
        "partnership_name": row["name"],
        "owner": row["owner"],
        "rule": row["rule"],
        "severity": row["severity"],
        "opened_on": row["opened_on"].isoformat(),
        "explanation": row["explanation"],
        "text": line(row),
    }


@dataclass(frozen=True)
class Digest:
    """One owner's transitions of a round, sent as one message."""

    key: str
    owner: str
    header: str
    rows: list[dict]

    @property
    def text(self) -> str:
        return "\n".join([self.header, *(f"- {line(r)}" for r in self.rows)])


def digests(rows: list[dict], as_of: date) -> list[Digest]:
    """The round's transitions grouped per owner (key `digest:<owner>:<as_of>:<hash of the
    transition keys>`), in sending order."""
    by_owner: dict[str, list[dict]] = {}
    for row in rows:
        by_owner.setdefault(row["owner"] or "(no owner)", []).append(row)
    out = []
    for owner, group in by_owner.items():
        keys = sorted(r["key"] for r in group)
        digest_hash = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        header = f"corners: {len(group)} alert transition(s) for {owner} as of {as_of}"
        out.append(
            Digest(f"digest:{owner}:{as_of.isoformat()}:{digest_hash}", owner, header, group)
        )
    return out
