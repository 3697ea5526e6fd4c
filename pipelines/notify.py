"""Alert notifications through an outbox (SPEC §7).

After each published refresh:

1. **Enqueue.** The transitions due (see `fitmodel.alerts.due`: dated after the previous
   notifying refresh, or on a first run only those of the latest day) go into the outbox, one
   row per transition and sink whose `min_severity` admits it, unless already there. The
   outbox is append-only, keyed by `(key, sink)` with `key = <alert_id>:<transition>`.
2. **Silence.** Acknowledged alerts' pending openings are dropped; snoozed ones are held
   (kept pending, not sent) while their snooze lasts — see `fitmodel.alerts.silenced`.
3. **Deliver.** Each sink gets its pending transitions (oldest first), one message each, or
   with `digest` one message per owner. A message is retried with exponential backoff within
   the run; a sink that cannot be reached at all is not tried again this run. Every outcome is
   appended to `deliveries`; a transition with a `delivered` (or `dropped`) outcome is never
   sent again, and any other stays pending for the next refresh.

Sending is at least once: a crash after a sink answered but before the outcome was recorded
sends the message again, with the same `Idempotency-Key` (`<alert_id>:<transition>`, or for a
digest `digest:<owner>:<as_of>:<hash of its keys>`) so the receiver can discard it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from fitmodel.alerts import ACTION_SCHEMA, SEVERITY_RANK, TRANSITION_SCHEMA, due, silenced
from fitmodel.alerts import transitions as all_transitions
from fitmodel.config import AlertsConfig, DeliveryConfig, LogSink, WebhookSink
from pipelines import store
from pipelines.http import Answer, post_json
from pipelines.store import Home

logger = logging.getLogger("corners.alerts")

OUTBOX_SCHEMA = pl.Schema(
    {
        **TRANSITION_SCHEMA,
        "sink": pl.String(),
        "as_of": pl.Date(),
        "enqueued_at": pl.Datetime("us", "UTC"),
    }
)

DELIVERY_SCHEMA = pl.Schema(
    {
        "key": pl.String(),
        "sink": pl.String(),
        "outcome": pl.String(),
        "message_key": pl.String(),
        "attempts": pl.Int64(),
        "status_code": pl.Int64(),
        "error": pl.String(),
        "as_of": pl.Date(),
        "recorded_at": pl.Datetime("us", "UTC"),
    }
)
"""One row per transition per sink per delivery round: `delivered`, `failed` (stays pending)
or `dropped` (acknowledged before it was sent; never sent)."""

RUN_SCHEMA = pl.Schema(
    {
        "as_of": pl.Date(),
        "enqueued": pl.Int64(),
        "delivered": pl.Int64(),
        "failed": pl.Int64(),
        "held": pl.Int64(),
        "dropped": pl.Int64(),
        "ran_at": pl.Datetime("us", "UTC"),
    }
)

DONE = ["delivered", "dropped"]


def outbox_path(home: Home) -> Path:
    return home.notifications / "outbox"


def deliveries_path(home: Home) -> Path:
    return home.notifications / "deliveries"


def runs_path(home: Home) -> Path:
    return home.notifications / "runs"


def actions_path(home: Home) -> Path:
    return home.root / "alert_actions"


# --- messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One POST (or log line): `key` is its Idempotency-Key, `covers` the transition keys."""

    key: str
    covers: tuple[str, ...]
    text: str
    body: dict


def line(row: dict) -> str:
    """The one-line account of a transition."""
    who = f"{row['name']} ({row['partnership_id']})" if row["name"] else row["partnership_id"]
    if row["transition"] == "open":
        return (
            f"[{row['severity']}] {row['rule']} opened for {who} on {row['transition_on']}: "
            f"{row['explanation']}"
        )
    return (
        f"[{row['severity']}] {row['rule']} resolved for {who} on {row['transition_on']}, "
        f"open since {row['opened_on']}; when last holding: {row['explanation']}"
    )


def payload(row: dict) -> dict:
    """The JSON a generic webhook receives for one transition."""
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


_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}


def _slack(text: str, lines: list[str]) -> dict:
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in lines],
    }


def _slack_line(row: dict) -> str:
    icon = ":white_check_mark:" if row["transition"] == "resolve" else _ICON[row["severity"]]
    return f"{icon} {line(row)}"


def messages(
    rows: list[dict], kind: str, as_of: date, digest: bool, source: str = "corners"
) -> list[Message]:
    """The messages for one sink's pending transitions (`rows`, in sending order)."""
    if not digest:
        out = []
        for row in rows:
            text = line(row)
            body = (
                _slack(text, [_slack_line(row)])
                if kind == "slack"
                else {"source": source, "as_of": as_of.isoformat(), **payload(row)}
            )
            out.append(Message(row["key"], (row["key"],), text, body))
        return out
    by_owner: dict[str, list[dict]] = {}
    for row in rows:
        by_owner.setdefault(row["owner"] or "(no owner)", []).append(row)
    out = []
    for owner, group in by_owner.items():
        keys = tuple(r["key"] for r in group)
        digest_hash = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
        key = f"digest:{owner}:{as_of.isoformat()}:{digest_hash}"
        header = f"corners: {len(group)} alert transition(s) for {owner} as of {as_of}"
        text = "\n".join([header, *(f"- {line(r)}" for r in group)])
        if kind == "slack":
            body = _slack(text, [f"*{header}*", *(_slack_line(r) for r in group)])
        else:
            body = {
                "source": source,
                "kind": "digest",
                "idempotency_key": key,
                "owner": owner,
                "as_of": as_of.isoformat(),
                "text": text,
                "transitions": [payload(r) for r in group],
            }
        out.append(Message(key, keys, text, body))
    return out


# --- sending -------------------------------------------------------------------------------


def post(sink: WebhookSink, message: Message) -> Answer:
    """POST one message; errors name no expanded `${NAME}` value."""
    target = sink.resolved()
    answer = post_json(
        target.url,
        {"Idempotency-Key": message.key, **target.headers},
        message.body,
        sink.timeout_seconds,
    )
    if answer.error:
        return Answer(answer.ok, answer.status, target.redact(answer.error))
    return answer


@dataclass
class Outcome:
    message: Message
    delivered: bool
    attempts: int
    status: int | None
    error: str | None


def send(
    message_list: list[Message],
    attempt: Callable[[Message], Answer],
    delivery: DeliveryConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Send each message, retrying with exponential backoff; once a message finds the sink
    unreachable (no answer after every attempt), the rest wait for the next refresh."""
    outcomes = []
    unreachable: str | None = None
    for message in message_list:
        if unreachable:
            outcomes.append(Outcome(message, False, 0, None, f"not tried: {unreachable}"))
            continue
        tries, answer = 0, Answer(False)
        while tries < delivery.attempts:
            tries += 1
            answer = attempt(message)
            if answer.ok or not answer.retryable:
                break
            if tries < delivery.attempts:
                sleep(
                    min(delivery.max_backoff_seconds, delivery.backoff_seconds * 2 ** (tries - 1))
                )
        if not answer.ok and answer.status is None:
            unreachable = f"sink unreachable earlier in this run ({answer.error})"
        outcomes.append(Outcome(message, answer.ok, tries, answer.status, answer.error))
    return outcomes


def _attempt_for(sink: WebhookSink | LogSink, name: str, log: Callable[[str], None]):
    if isinstance(sink, LogSink):

        def to_log(message: Message) -> Answer:
            for text in message.text.splitlines():
                log(f"alert [{name}] {text}")
            return Answer(True)

        return to_log
    return lambda message: post(sink, message)


# --- one notifying round -------------------------------------------------------------------


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


def read_actions(home: Home) -> pl.DataFrame:
    return store.scan(actions_path(home), ACTION_SCHEMA).collect()


def pending(home: Home, sinks: list[str]) -> pl.DataFrame:
    """Outbox rows of configured sinks without a delivered or dropped outcome."""
    done = (
        store.scan(deliveries_path(home), DELIVERY_SCHEMA)
        .filter(pl.col("outcome").is_in(DONE))
        .select("key", "sink")
    )
    return (
        store.scan(outbox_path(home), OUTBOX_SCHEMA)
        .filter(pl.col("sink").is_in(sinks))
        .join(done, on=["key", "sink"], how="anti")
        .collect()
    )


def notify(
    home: Home,
    settings: AlertsConfig,
    alerts: pl.DataFrame,
    as_of: date,
    log: Callable[[str], None] = logger.info,
    sleep: Callable[[float], None] = time.sleep,
) -> NotifyReport:
    """One round (see the module docstring) for the refresh through `as_of`."""
    report = NotifyReport(as_of)
    for path, schema in (
        (outbox_path(home), OUTBOX_SCHEMA),
        (deliveries_path(home), DELIVERY_SCHEMA),
    ):
        if not store.exists(path):  # empty tables, so they can be queried from the start
            write_deltalake(str(path), pl.DataFrame(schema=schema).to_arrow(), mode="append")
    runs = store.scan(runs_path(home), RUN_SCHEMA).select(pl.col("as_of").max()).collect()
    since = runs.item() if runs.height else None
    fresh = due(all_transitions(alerts), since, as_of)

    sinks = settings.sinks
    admits = pl.DataFrame(
        {
            "sink": list(sinks),
            "_min_rank": [SEVERITY_RANK[s.min_severity] for s in sinks.values()],
        },
        schema={"sink": pl.String(), "_min_rank": pl.Int64()},
    )
    queued = store.scan(outbox_path(home), OUTBOX_SCHEMA).select("key", "sink").collect()
    new = (
        fresh.join(admits, how="cross")
        .filter(pl.col("severity").replace_strict(SEVERITY_RANK, default=1) >= pl.col("_min_rank"))
        .drop("_min_rank")
        .join(queued, on=["key", "sink"], how="anti")
        .with_columns(pl.lit(as_of).alias("as_of"), pl.lit(_now()).alias("enqueued_at"))
        .select(list(OUTBOX_SCHEMA))
        .cast(dict(OUTBOX_SCHEMA))
    )
    if new.height:
        write_deltalake(str(outbox_path(home)), new.to_arrow(), mode="append")
    report.enqueued = new.height

    waiting = silenced(pending(home, list(sinks)), read_actions(home), as_of)
    order = [
        pl.col("transition_on"),
        pl.col("severity").replace_strict(SEVERITY_RANK, default=1),
        "partnership_id",
        "rule",
        "transition",
    ]
    waiting = waiting.sort(order, descending=[False, True, False, False, False])
    recorded: list[dict] = []
    dropped = waiting.filter(pl.col("dropped"))
    for row in dropped.iter_rows(named=True):
        recorded.append(
            _outcome_row(row["key"], row["sink"], "dropped", None, 0, None, None, as_of)
        )
    report.dropped = dropped.height
    report.held = waiting.filter(pl.col("held") & ~pl.col("dropped")).height
    sendable = waiting.filter(~pl.col("held") & ~pl.col("dropped"))

    for name, sink in sinks.items():
        rows = sendable.filter(pl.col("sink") == name).to_dicts()
        if not rows:
            continue
        kind = sink.kind
        batch = messages(rows, kind, as_of, settings.digest)
        for outcome in send(batch, _attempt_for(sink, name, log), settings.delivery, sleep):
            state = "delivered" if outcome.delivered else "failed"
            for key in outcome.message.covers:
                recorded.append(
                    _outcome_row(
                        key,
                        name,
                        state,
                        outcome.message.key,
                        outcome.attempts,
                        outcome.status,
                        outcome.error,
                        as_of,
                    )
                )
            if outcome.delivered:
                report.delivered += len(outcome.message.covers)
            else:
                report.failed += len(outcome.message.covers)
                report.errors.append(f"{name}: {outcome.message.key}: {outcome.error}")
    if recorded:
        frame = pl.DataFrame(recorded, schema=DELIVERY_SCHEMA)
        write_deltalake(str(deliveries_path(home)), frame.to_arrow(), mode="append")
    run = pl.DataFrame(
        [
            {
                "as_of": as_of,
                "enqueued": report.enqueued,
                "delivered": report.delivered,
                "failed": report.failed,
                "held": report.held,
                "dropped": report.dropped,
                "ran_at": _now(),
            }
        ],
        schema=RUN_SCHEMA,
    )
    write_deltalake(str(runs_path(home)), run.to_arrow(), mode="append")
    return report


def _outcome_row(key, sink, outcome, message_key, attempts, status, error, as_of) -> dict:
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


# --- ack and snooze ------------------------------------------------------------------------


def record_action(
    home: Home,
    alert: dict,
    action: str,
    actor: str,
    until: date | None = None,
    reason: str | None = None,
) -> dict:
    """Append an `ack` or `snooze` of `alert` (a row of the alerts table)."""
    at = _now()
    row = {
        "action_id": f"{alert['alert_id']}:{action}:{at.isoformat()}",
        "alert_id": alert["alert_id"],
        "partnership_id": alert["partnership_id"],
        "action": action,
        "severity": alert["severity"],
        "until": until,
        "reason": reason,
        "actor": actor,
        "recorded_at": at,
    }
    frame = pl.DataFrame([row], schema=ACTION_SCHEMA)
    write_deltalake(str(actions_path(home)), frame.to_arrow(), mode="append")
    return row
