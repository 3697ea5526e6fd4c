"""Which days a refresh recomputes: the decision, from facts the store gathers.

A publication records its `Plan` as its position (in the same Delta commit as its rows), so
the next refresh knows what the published table covers: through which `as_of`, from which
events (`watermark`, the newest `ingested_at` it had seen), under which registry and model.

A refresh recomputes every day (a rebuild) when asked to, when nothing was published yet,
when the registry, the model's configuration or the published columns changed, or when the
previous publication saw no events; otherwise from the first day that can have changed
(`fitmodel.incremental.first_affected_day`) through `as_of`, and never before the earliest
`started_on` (no row is earlier).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from fitmodel.incremental import first_affected_day

if TYPE_CHECKING:
    from fitmodel.config import ModelConfig


@dataclass(frozen=True)
class Plan:
    """What a refresh recomputes, days `start` (None: all) through `as_of`, and what it
    rests on; once published, the position of the published table."""

    as_of: date
    start: date | None
    mode: str
    watermark: datetime | None
    registry_hash: str | None
    model_hash: str
    rows: int = 0

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("as_of", "start", "watermark"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(
            as_of=date.fromisoformat(data["as_of"]),
            start=date.fromisoformat(data["start"]) if data["start"] else None,
            mode=data["mode"],
            watermark=datetime.fromisoformat(data["watermark"]) if data["watermark"] else None,
            registry_hash=data["registry_hash"],
            model_hash=data["model_hash"],
            rows=data.get("rows", 0),
        )

    def with_rows(self, rows: int) -> Plan:
        return replace(self, rows=rows)


def model_hash(model: ModelConfig, shards: int = 1) -> str:
    """A fingerprint of the model's configuration and of the number of shards: a change of
    either means every day is recomputed (one shard leaves the fingerprint as it was before
    shards existed)."""
    text = model.model_dump_json() + (f"|shards={shards}" if shards != 1 else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Facts:
    """What the store knows when a refresh starts."""

    as_of: date
    watermark: datetime | None
    """The newest `ingested_at` in the event store."""
    registry_hash: str | None
    model_hash: str
    columns_match: bool
    """Whether the published table has the columns the model computes."""
    earliest_start: date | None
    """The earliest `started_on` of the registry."""


def decide(
    last: Plan | None, facts: Facts, affected: date | None, *, rebuild: bool = False
) -> Plan:
    """The plan of a refresh after the publication `last` (None: nothing published), given
    `affected`, the earliest event date ingested after `last.watermark`."""
    full = Plan(
        facts.as_of, None, "rebuild", facts.watermark, facts.registry_hash, facts.model_hash
    )
    if (
        rebuild
        or last is None
        or last.registry_hash != facts.registry_hash
        or last.model_hash != facts.model_hash
        or not facts.columns_match
        or (last.watermark is None and facts.watermark is not None)
    ):
        return full
    # An earlier as_of than last time (a rebuild through it) also drops the days after it.
    start = min(first_affected_day(affected, last.as_of), facts.as_of + timedelta(days=1))
    if facts.earliest_start is not None and start < facts.earliest_start:
        start = facts.earliest_start
    return Plan(
        facts.as_of,
        start,
        "incremental",
        facts.watermark,
        facts.registry_hash,
        facts.model_hash,
    )


def needs_publication(last: Plan | None, plan: Plan, rows: int) -> bool:
    """Whether publishing `plan` changes anything: new rows, or a new position."""
    if last is None or plan.start is None or rows:
        return True
    keys = ("as_of", "watermark", "registry_hash", "model_hash")
    return any(getattr(plan, k) != getattr(last, k) for k in keys)
