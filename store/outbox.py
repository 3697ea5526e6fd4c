"""Alert notifications through an outbox (SPEC §7): one round after each publication, as four
named steps.

1. **Enqueue** what is due by the state of the alerts table against what earlier rounds
   decided and sent (`fitmodel.notifications.due`), into the append-only outbox, in one
   commit; record the pending rows no longer due as `dropped`.
2. **Silence**: an acknowledged alert's undelivered opening is dropped; a snoozed alert holds
   its partnership's transitions of the same or lower severity while the snooze lasts.
3. **Deliver** each sink's sendable rows, oldest first, one message each (or one per owner
   with `digest`), with retries (`store.sinks.deliver`).
4. **Record** every outcome in `deliveries` and the round in `notification_runs`.

A row with a `delivered` or `dropped` outcome is never sent again; any other stays due. Sending
is at least once: a crash after a sink answered but before the outcome was recorded sends the
message again, with the same `Idempotency-Key` (`<alert_id>:<transition>`, or for a digest
`digest:<owner>:<as_of>:<hash of its keys>`), so the receiver can discard it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl
from deltalake import CommitProperties, write_deltalake

from fitmodel.config import AlertsConfig
from fitmodel.notifications import MARKER, SEVERITY_RANK, due, silenced
from store import delta, sinks
from store.catalog import CATALOG
from store.home import Home

logger = logging.getLogger("corners.alerts")

DONE = ["delivered", "dropped"]
ROUND_KEY = "corners.round"
"""Commit metadata of the outbox: the as_of of the round that enqueued."""


@dataclass
class NotifyReport:
    as_of: date
    enqueued: int = 0
    delivered: int = 0
    failed: int = 0
    held: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _outcome(key, sink, outcome, as_of, *, message_key=None, attempts=0, status=None, error=None):
    return {
        "key": key,
        "sink": sink,
        "outcome": outcome,
        "message_key": message_key,
        "attempts": attempts,
        "status_code": status,
        "error": error,
        "as_of": as_of,
        "recorded_at": _now(),
    }


def _append(home: Home, name: str, frame: pl.DataFrame, metadata: dict | None = None) -> None:
    write_deltalake(
        str(home.path(name)),
        frame.cast(dict(CATALOG[name].schema)).to_arrow(),
        mode="append",
        commit_properties=CommitProperties(custom_metadata=metadata) if metadata else None,
    )


def _done(home: Home) -> pl.DataFrame:
    return (
        delta.scan_table(home, "deliveries")
        .filter(pl.col("outcome").is_in(DONE))
        .select("key", "sink", "outcome")
        .unique(["key", "sink"], keep="first")
        .collect()
    )


def read_actions(home: Home) -> pl.DataFrame:
    return delta.scan_table(home, "alert_actions").collect()


def _first_round(home: Home, outbox: pl.DataFrame) -> bool:
    """No round has decided anything yet, nor finished."""
    runs = delta.scan_table(home, "notification_runs").select(pl.len()).collect().item()
    return runs == 0 and outbox.filter(pl.col("sink") == MARKER).is_empty()


# --- the steps ---------------------------------------------------------------------------


def enqueue(home: Home, settings: AlertsConfig, alerts: pl.DataFrame, as_of: date) -> tuple:
    """Step 1: append what is due (one commit) and record what is no longer due; returns the
    rows enqueued to sinks and the outcome rows of the drops."""
    for name in ("outbox", "deliveries"):  # empty tables, so they can be queried from the start
        if not delta.exists(home.path(name)):
            _append(home, name, pl.DataFrame(schema=CATALOG[name].schema))
    outbox = delta.scan_table(home, "outbox").collect()
    done = _done(home)
    admits = {name: sink.min_severity for name, sink in settings.sinks.items()}
    decided = due(alerts, outbox, done, admits, as_of, _first_round(home, outbox))
    stamped = decided.enqueue.with_columns(
        pl.lit(as_of).alias("as_of"), pl.lit(_now()).alias("enqueued_at")
    )
    _append(home, "outbox", stamped, {ROUND_KEY: as_of.isoformat()})
    drops = [
        _outcome(r["key"], r["sink"], "dropped", as_of, error=r["reason"])
        for r in decided.drop.iter_rows(named=True)
    ]
    return stamped.filter(pl.col("sink") != MARKER), drops


def pending(home: Home, sink_names: list[str]) -> pl.DataFrame:
    """Outbox rows of configured sinks without a delivered or dropped outcome."""
    return (
        delta.scan_table(home, "outbox")
        .filter(pl.col("sink").is_in(sink_names))
        .join(_done(home).lazy(), on=["key", "sink"], how="anti")
        .collect()
    )


def silence(home: Home, waiting: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Step 2: `waiting` with `held` and `dropped` (`fitmodel.notifications.silenced`), in
    sending order."""
    order = [
        pl.col("transition_on"),
        pl.col("severity").replace_strict(SEVERITY_RANK, default=1, return_dtype=pl.Int64),
        "partnership_id",
        "rule",
        "transition",
    ]
    return silenced(waiting, read_actions(home), as_of).sort(
        order, descending=[False, True, False, False, False]
    )


def deliver(
    settings: AlertsConfig,
    sendable: pl.DataFrame,
    as_of: date,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
    report: NotifyReport,
) -> list[dict]:
    """Step 3: send each sink's rows; returns the outcome rows."""
    recorded = []
    for name, sink in settings.sinks.items():
        rows = sendable.filter(pl.col("sink") == name).to_dicts()
        if not rows:
            continue
        batch = sinks.messages(sink, rows, as_of, settings.digest)
        attempt = sinks.attempt_for(sink, name, log)
        for outcome in sinks.deliver(batch, attempt, settings.delivery, sleep):
            state = "delivered" if outcome.delivered else "failed"
            for key in outcome.message.covers:
                recorded.append(
                    _outcome(
                        key,
                        name,
                        state,
                        as_of,
                        message_key=outcome.message.key,
                        attempts=outcome.attempts,
                        status=outcome.status,
                        error=outcome.error,
                    )
                )
            if outcome.delivered:
                report.delivered += len(outcome.message.covers)
            else:
                report.failed += len(outcome.message.covers)
                report.errors.append(f"{name}: {outcome.message.key}: {outcome.error}")
    return recorded


def record(home: Home, outcomes: list[dict], report: NotifyReport) -> None:
    """Step 4: the outcomes, then the round."""
    if outcomes:
        _append(home, "deliveries", pl.DataFrame(outcomes, schema=CATALOG["deliveries"].schema))
    run = {
        "as_of": report.as_of,
        "enqueued": report.enqueued,
        "delivered": report.delivered,
        "failed": report.failed,
        "held": report.held,
        "dropped": report.dropped,
        "ran_at": _now(),
    }
    _append(home, "notification_runs", pl.DataFrame([run]))


def notify(
    home: Home,
    settings: AlertsConfig,
    alerts: pl.DataFrame,
    as_of: date,
    log: Callable[[str], None] = logger.info,
    sleep: Callable[[float], None] = time.sleep,
) -> NotifyReport:
    """One round (see the module docstring) after the publication through `as_of`."""
    report = NotifyReport(as_of)
    enqueued, outcomes = enqueue(home, settings, alerts, as_of)
    report.enqueued = enqueued.height
    no_longer_due = pl.DataFrame(
        [(o["key"], o["sink"]) for o in outcomes],
        schema={"key": pl.String(), "sink": pl.String()},
        orient="row",
    )
    waiting = pending(home, list(settings.sinks)).join(
        no_longer_due, on=["key", "sink"], how="anti"
    )
    waiting = silence(home, waiting, as_of)
    acked = waiting.filter(pl.col("dropped"))
    outcomes += [
        _outcome(r["key"], r["sink"], "dropped", as_of, error="acknowledged before it was sent")
        for r in acked.iter_rows(named=True)
    ]
    report.dropped = len(outcomes)
    report.held = waiting.filter(pl.col("held") & ~pl.col("dropped")).height
    sendable = waiting.filter(~pl.col("held") & ~pl.col("dropped"))
    outcomes += deliver(settings, sendable, as_of, log, sleep, report)
    record(home, outcomes, report)
    return report
