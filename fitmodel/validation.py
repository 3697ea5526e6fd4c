"""Does the fit score predict what happens at the renewal gates? (SPEC §10)

`renewal_gates`: one row per partnership and gate G ≤ min(ended_on, as_of), with the standing
decisions of each side among those dated ≤ as_of, the outcome, when it was decided, and the
fit score and band at G and at G − h for each horizon h.

`validation`: one row per horizon over the *decided* gates (reaffirmed, restructured, exited;
a failure is restructured or exited) whose score h days before is known: how many, the
Mann–Whitney AUC (the probability that a failed gate's score was lower than a reaffirmed
one's, ties within 1e-9 counting ½), failures per band, and how well critical alerts open h
days before picked the failures (recall, precision).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from fitmodel.governance import DECIDED, FAILED, gate, outcome

P, DAY = "partnership_id", "as_of"
BANDS = ("healthy", "watch", "at_risk")
TIE = 1e-9


def gates(registry: pl.LazyFrame, as_of: date, months: int) -> pl.LazyFrame:
    """(P, gate_on) for every gate G_k ≤ min(ended_on, as_of) of each partnership."""
    start = pl.col("started_on")
    last = pl.min_horizontal(pl.col("ended_on").fill_null(pl.lit(as_of)), pl.lit(as_of))
    elapsed = (last.dt.year() - start.dt.year()) * 12 + last.dt.month() - start.dt.month()
    return (
        registry.select(P, "started_on", last.alias("_last"), (elapsed // months + 1).alias("_k"))
        .filter(pl.col("_k") >= 1)
        .with_columns(pl.int_ranges(1, pl.col("_k") + 1).alias("k"))
        .explode("k")
        .filter(pl.col("k").is_not_null())
        .with_columns(gate(pl.col("started_on"), pl.col("k"), months).alias("gate_on"))
        .filter(pl.col("gate_on") <= pl.col("_last"))
        .select(P, "gate_on")
    )


def standing(decided: pl.LazyFrame) -> pl.LazyFrame:
    """Per (P, gate_on): each side's standing decision (latest `occurred_at`, ties to the
    greatest `event_id`) and `decided_on`, the date of the later of them."""
    last = (
        decided.sort(P, "gate_on", "side", "occurred_at", "event_id")
        .group_by(P, "gate_on", "side", maintain_order=True)
        .agg(pl.col("decision").last(), pl.col("occurred_at").last())
    )
    sides = [
        last.filter(pl.col("side") == s).select(
            P,
            "gate_on",
            pl.col("decision").alias(f"decision_{s}"),
            pl.col("occurred_at").alias(f"_at_{s}"),
        )
        for s in ("a", "b")
    ]
    return sides[0].join(sides[1], on=[P, "gate_on"], how="full", coalesce=True)


def days_needed(gate_rows: pl.DataFrame, horizons: list[int]) -> pl.DataFrame:
    """The (P, as_of) fit-health rows the gates read: G and G − h for every horizon."""
    days = [gate_rows.select(P, pl.col("gate_on").alias(DAY))]
    days += [
        gate_rows.select(P, (pl.col("gate_on") - pl.duration(days=h)).alias(DAY)) for h in horizons
    ]
    return pl.concat(days).unique()


def renewal_gates(
    gate_rows: pl.DataFrame,
    decided: pl.LazyFrame,
    fit_rows: pl.DataFrame,
    horizons: list[int],
) -> pl.DataFrame:
    """The renewal-gates table: `gate_rows` (P, gate_on), `decided` the decisions dated ≤
    as_of, `fit_rows` (P, as_of, fit_score, band) holding at least `days_needed`."""
    scores = fit_rows.select(P, DAY, "fit_score", "band")
    table = gate_rows.join(standing(decided).collect(), on=[P, "gate_on"], how="left")
    table = table.with_columns(
        pl.when(pl.col("decision_a").is_not_null() | pl.col("decision_b").is_not_null())
        .then(outcome(pl.col("decision_a"), pl.col("decision_b")))
        .otherwise(pl.lit("unconfirmed"))
        .alias("outcome"),
        pl.max_horizontal("_at_a", "_at_b").dt.date().alias("decided_on"),
    ).join(
        scores.rename({DAY: "gate_on", "fit_score": "fit_score_at_gate", "band": "band_at_gate"}),
        on=[P, "gate_on"],
        how="left",
    )
    for h in horizons:
        earlier = scores.rename(
            {DAY: "_then", "fit_score": f"fit_score_{h}d_before", "band": f"band_{h}d_before"}
        )
        table = (
            table.with_columns((pl.col("gate_on") - pl.duration(days=h)).alias("_then"))
            .join(earlier, on=[P, "_then"], how="left")
            .drop("_then")
        )
    return table.select(list(gates_schema(horizons))).sort(P, "gate_on")


def gates_schema(horizons: list[int]) -> pl.Schema:
    columns = {
        P: pl.String(),
        "gate_on": pl.Date(),
        "decision_a": pl.String(),
        "decision_b": pl.String(),
        "outcome": pl.String(),
        "decided_on": pl.Date(),
        "fit_score_at_gate": pl.Float64(),
        "band_at_gate": pl.String(),
    }
    for h in horizons:
        columns[f"fit_score_{h}d_before"] = pl.Float64()
        columns[f"band_{h}d_before"] = pl.String()
    return pl.Schema(columns)


def validation_schema() -> pl.Schema:
    return pl.Schema(
        {
            "as_of": pl.Date(),
            "horizon_days": pl.Int64(),
            "decided_gates": pl.Int64(),
            "scored_gates": pl.Int64(),
            "failures": pl.Int64(),
            "auc": pl.Float64(),
            **{f"{b}_{k}": pl.Int64() for b in BANDS for k in ("gates", "failures")},
            "alert_recall": pl.Float64(),
            "alert_precision": pl.Float64(),
        }
    )


def auc(failed: pl.Series, reaffirmed: pl.Series) -> float | None:
    """P(a failed gate's score < a reaffirmed gate's), ties within 1e-9 counting ½ (the
    Mann–Whitney statistic ÷ pairs); None without a pair. Sorted counts, no pairs built."""
    if failed.is_empty() or reaffirmed.is_empty():
        return None
    r = reaffirmed.sort()
    above = r.search_sorted(failed + TIE, side="right")
    below = r.search_sorted(failed - TIE, side="left")
    greater = (r.len() - above).sum()
    ties = (above - below).sum()
    return float((greater + 0.5 * ties) / (failed.len() * r.len()))


def _open_on(alerts: pl.DataFrame, day: pl.Expr) -> pl.Expr:
    return (pl.col("opened_on") <= day) & (
        pl.col("resolved_on").is_null() | (pl.col("resolved_on") > day)
    )


def validation(
    table: pl.DataFrame, alerts: pl.DataFrame, horizons: list[int], as_of: date
) -> pl.DataFrame:
    """The validation table: one row per horizon (even without gates)."""
    decided = table.filter(pl.col("outcome").is_in(DECIDED))
    critical = alerts.filter(pl.col("severity") == "critical").select(P, "opened_on", "resolved_on")
    rows = []
    for h in horizons:
        score, band = f"fit_score_{h}d_before", f"band_{h}d_before"
        scored = decided.filter(pl.col(score).is_not_null()).with_columns(
            pl.col("outcome").is_in(FAILED).alias("_failed"),
            (pl.col("gate_on") - pl.duration(days=h)).alias("_then"),
        )
        flagged = (
            scored.select(P, "gate_on", "_then")
            .join(critical, on=P)
            .filter(_open_on(critical, pl.col("_then")))
            .select(P, "gate_on")
            .unique()
            .with_columns(pl.lit(True).alias("_alerted"))
        )
        scored = scored.join(flagged, on=[P, "gate_on"], how="left").with_columns(
            pl.col("_alerted").fill_null(False)
        )
        failed = scored.filter("_failed")
        alerted = scored.filter("_alerted")
        n_scored, n_failed = scored.height, failed.height
        row = {
            "as_of": as_of,
            "horizon_days": h,
            "decided_gates": decided.height,
            "scored_gates": n_scored,
            "failures": n_failed,
            "auc": None
            if n_failed in (0, n_scored)
            else auc(failed[score], scored.filter(~pl.col("_failed"))[score]),
            "alert_recall": failed["_alerted"].mean() if n_failed else None,
            "alert_precision": alerted["_failed"].mean() if alerted.height else None,
        }
        for b in BANDS:
            mine = scored.filter(pl.col(band) == b)
            row[f"{b}_gates"] = mine.height
            row[f"{b}_failures"] = int(mine["_failed"].sum())
        rows.append(row)
    return pl.DataFrame(rows, schema=validation_schema())


def reading(row: dict) -> str:
    """One line people read off a validation row."""
    h, failures, scored = row["horizon_days"], row["failures"], row["scored_gates"]
    if row["auc"] is None:
        return (
            f"at {h} days: no AUC yet ({failures} failure(s) among {scored} scored gate(s); "
            "it needs both failed and reaffirmed gates)"
        )
    warned = row["at_risk_failures"] + row["watch_failures"]
    return (
        f"at {h} days, partnerships that later failed their gate scored lower than reaffirmed "
        f"ones in {row['auc']:.0%} of pairs; {warned} of {failures} failures were at_risk or "
        "watch"
    )
