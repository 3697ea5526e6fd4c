"""Which alert transitions are due to which sink, by the state of the alerts table
(SPEC §7): pure decisions over frames, which `store.outbox` carries out.

The outbox remembers what earlier rounds decided and sent. Each round, after a publication:

- an open episode no earlier round has seen gets a decision marker (a row with an empty sink):
  `open`, and an `open` row for every sink whose `min_severity` admits it; except on the very
  first round over a history, where only the episodes that opened on `as_of` are opened and
  the other open ones are marked `seen`, left unnotified for good;
- for each sink that an episode's opening was delivered to: `resolve` once the episode is
  resolved, `withdrawn` once it is no longer in the table (a restatement moved or removed it);
- a transition still undelivered that is no longer due is dropped: an opening whose episode
  resolved or is gone (nothing follows it), a resolution of an episode open again or gone, a
  withdrawal of an episode back in the table.

Nothing else: no transition twice (keys are `<alert_id>:<transition>`, once per sink), no
resolution of an opening never delivered, and an episode that opened and resolved between two
rounds is never notified. Acknowledging drops an opening not yet delivered; a snooze holds
the partnership's transitions of the snoozed severity or lower while it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

SEVERITY_RANK = {"warning": 1, "critical": 2}

TRANSITION_SCHEMA = pl.Schema(
    {
        "key": pl.String(),
        "alert_id": pl.String(),
        "transition": pl.String(),
        "transition_on": pl.Date(),
        "partnership_id": pl.String(),
        "name": pl.String(),
        "owner": pl.String(),
        "rule": pl.String(),
        "severity": pl.String(),
        "opened_on": pl.Date(),
        "explanation": pl.String(),
        "sink": pl.String(),
    }
)
"""An outbox row without its stamps: `key` is `<alert_id>:<transition>`; `sink` is empty on
a decision marker (`open` or `seen`)."""

MARKER = ""
"""The sink of a decision marker."""

CONTEXT = ["partnership_id", "name", "owner", "rule", "severity", "opened_on", "explanation"]


@dataclass(frozen=True)
class Due:
    """What a round adds: `enqueue` (outbox rows, markers included) and `drop` (pending
    outbox rows no longer due: `key`, `sink`, `reason`)."""

    enqueue: pl.DataFrame
    drop: pl.DataFrame


def _rows(frame: pl.DataFrame, transition: str, on: pl.Expr, sink: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.concat_str([pl.col("alert_id"), pl.lit(transition)], separator=":").alias("key"),
        "alert_id",
        pl.lit(transition).alias("transition"),
        on.alias("transition_on"),
        *CONTEXT,
        sink.alias("sink"),
    ).cast(dict(TRANSITION_SCHEMA))


def _admitting(frame: pl.DataFrame, sinks: dict[str, str]) -> pl.DataFrame:
    """`frame` once per sink whose `min_severity` (`sinks`: name → min severity) admits it."""
    admits = pl.DataFrame(
        {"sink": list(sinks), "_min": [SEVERITY_RANK[s] for s in sinks.values()]},
        schema={"sink": pl.String(), "_min": pl.Int64()},
    )
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=1, return_dtype=pl.Int64)
    return frame.join(admits, how="cross").filter(rank >= pl.col("_min")).drop("_min")


def due(
    alerts: pl.DataFrame,
    outbox: pl.DataFrame,
    done: pl.DataFrame,
    sinks: dict[str, str],
    as_of: date,
    first_round: bool,
) -> Due:
    """The round's decisions (see the module docstring). `outbox`: every outbox row so far;
    `done`: (`key`, `sink`, `outcome`) of the delivered or dropped ones; `sinks`: the
    configured sinks and their `min_severity`."""
    outbox = outbox.select(list(TRANSITION_SCHEMA)).cast(dict(TRANSITION_SCHEMA))
    marked = outbox.filter(pl.col("sink") == MARKER).select("alert_id").unique()
    fresh = alerts.filter(pl.col("resolved_on").is_null()).join(marked, on="alert_id", how="anti")
    opened = (pl.col("opened_on") == as_of) | (not first_round)
    markers = pl.concat(
        [
            _rows(fresh.filter(opened), "open", pl.col("opened_on"), pl.lit(MARKER)),
            _rows(fresh.filter(~opened), "seen", pl.col("opened_on"), pl.lit(MARKER)),
        ]
    )
    openings = _rows(
        _admitting(fresh.filter(opened), sinks), "open", pl.col("opened_on"), pl.col("sink")
    )

    delivered = done.filter(pl.col("outcome") == "delivered").select("key", "sink")
    sent_opens = outbox.filter((pl.col("transition") == "open") & (pl.col("sink") != MARKER)).join(
        delivered, on=["key", "sink"], how="semi"
    )
    now = alerts.select("alert_id", pl.col("resolved_on").alias("_resolved_on"), "explanation")
    state = sent_opens.drop("explanation").join(now, on="alert_id", how="left")
    gone = ~pl.col("alert_id").is_in(alerts["alert_id"].implode())
    resolves = _rows(
        state.filter(pl.col("_resolved_on").is_not_null()),
        "resolve",
        pl.col("_resolved_on"),
        pl.col("sink"),
    )
    withdrawals = _rows(
        sent_opens.filter(gone), "withdrawn", pl.lit(as_of, pl.Date), pl.col("sink")
    )
    finals = pl.concat([resolves, withdrawals]).join(
        outbox.select("key", "sink"), on=["key", "sink"], how="anti"
    )

    pending = outbox.filter(pl.col("sink") != MARKER).join(
        done.select("key", "sink"), on=["key", "sink"], how="anti"
    )
    status = alerts.select(
        "alert_id",
        pl.when(pl.col("resolved_on").is_null())
        .then(pl.lit("open"))
        .otherwise(pl.lit("resolved"))
        .alias("_now"),
    )
    with_status = pending.join(status, on="alert_id", how="left").with_columns(
        pl.col("_now").fill_null("gone")
    )
    transition, now_ = pl.col("transition"), pl.col("_now")
    reason = (
        pl.when((transition == "open") & (now_ != "open"))
        .then(pl.format("no longer due: the episode is {} (its opening was never sent)", now_))
        .when((transition == "resolve") & (now_ != "resolved"))
        .then(pl.format("no longer due: the episode is {}", now_))
        .when((transition == "withdrawn") & (now_ != "gone"))
        .then(pl.lit("no longer due: the episode is back in the alerts table"))
    )
    drop = (
        with_status.with_columns(reason.alias("reason"))
        .filter(pl.col("reason").is_not_null())
        .select("key", "sink", "reason")
    )
    return Due(pl.concat([markers, openings, finals]), drop)


ACTION_SCHEMA = pl.Schema(
    {
        "action_id": pl.String(),
        "alert_id": pl.String(),
        "partnership_id": pl.String(),
        "action": pl.String(),
        "severity": pl.String(),
        "until": pl.Date(),
        "reason": pl.String(),
        "actor": pl.String(),
        "recorded_at": pl.Datetime("us", "UTC"),
    }
)
"""Append-only alert actions: `ack` or `snooze` (through `until`, inclusive), with the snoozed
alert's partnership and severity."""


def silenced(pending: pl.DataFrame, actions: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """`pending` transitions with `held` (a snooze covers it on `as_of`) and `dropped` (its
    alert was acknowledged, so its opening need not be told again).

    A snooze of an alert, while `as_of <= until`, holds the transitions of that partnership's
    alerts of the same or lower severity: a snoozed alert notifies again when the snooze ends
    or the partnership's alerting severity rises above the snoozed one.
    """
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=1)
    snoozes = (
        actions.filter((pl.col("action") == "snooze") & (pl.col("until") >= as_of))
        .group_by("partnership_id")
        .agg(rank.max().alias("_snoozed_rank"))
    )
    acked = actions.filter(pl.col("action") == "ack").select("alert_id").unique()
    return (
        pending.join(snoozes, on="partnership_id", how="left")
        .join(acked.with_columns(pl.lit(True).alias("_acked")), on="alert_id", how="left")
        .with_columns(
            (rank <= pl.col("_snoozed_rank")).fill_null(False).alias("held"),
            (pl.col("_acked").fill_null(False) & (pl.col("transition") == "open")).alias("dropped"),
        )
        .drop("_snoozed_rank", "_acked")
    )
