"""Checks on the event tables: the newest ingest's rows, and event_id unique table-wide
(inductively: the newest ids against those stored before)."""

from datetime import datetime

import dagster as dg
import polars as pl

from assets.resources import CornersResource
from checks.ge import Check, GreatExpectations, expect, recorded, run_checks
from fitmodel.domain import STREAMS
from fitmodel.events import ENVELOPE, EVENT_TYPES, stream_fields
from store import delta
from store.ingest import newest_ingest
from store.layout import EVENT_ASSETS


def _expectations(stream: str) -> tuple:
    required = [f.name for f in ENVELOPE if f.required]
    rules = [expect("ExpectColumnValuesToNotBeNull", column=c) for c in required]
    types = [t for t, (s, _) in EVENT_TYPES.items() if s == stream]
    rules.append(expect("ExpectColumnValuesToBeInSet", column="event_type", value_set=types))
    for spec in stream_fields(stream):
        if spec.kind == "enum":
            rules.append(
                expect("ExpectColumnValuesToBeInSet", column=spec.name, value_set=list(spec.values))
            )
        elif spec.kind == "int":
            rules.append(
                expect(
                    "ExpectColumnValuesToBeBetween",
                    column=spec.name,
                    min_value=spec.low,
                    max_value=spec.high,
                )
            )
    return tuple(rules)


def checks_for(stream: str, tolerance_days: float) -> list[Check]:
    return [
        Check(
            f"{EVENT_ASSETS[stream]}_unique_event_id",
            "rows",
            (
                expect(
                    "ExpectColumnValuesToBeBetween",
                    column="duplicated_ids",
                    min_value=0,
                    max_value=0,
                ),
                expect("ExpectColumnValuesToBeUnique", column="event_id"),
            ),
            "No event_id is stored twice: the newest ingest's ids are unique (GE) and none "
            "was stored before (inductively, the whole table).",
        ),
        Check(
            f"{EVENT_ASSETS[stream]}_valid_values",
            "rows",
            _expectations(stream),
            "The newest ingest's rows have their envelope and only allowed values.",
        ),
        Check(
            f"{EVENT_ASSETS[stream]}_no_future_timestamps",
            "rows",
            (
                expect(
                    "ExpectColumnValuesToBeBetween",
                    column="days_after_ingest",
                    max_value=tolerance_days,
                ),
            ),
            "No event occurred more than ingest.future_tolerance_days after it was ingested.",
        ),
    ]


def audit_events(
    table: pl.LazyFrame, stream: str, tolerance_days: float, newest: datetime | None = None
) -> list[dg.AssetCheckResult]:
    """The checks of the rows one event table received since the newest ingest, on a frame.

    `newest` is that ingest's time (the ingest log's newest `ingested_at`): the rows checked
    are those with an `ingested_at` from then on, none when the ingest stored nothing in this
    table and nothing else wrote to it since (a nightly ingest without surveys checks no
    survey again). Without it, the table's own newest rows."""
    if newest is None:
        newest = table.select(pl.col("ingested_at").max()).collect().item()
    # The Delta log keeps timestamps' statistics to the millisecond: a bound at or below it
    # lets the scan skip older writes' files by their statistics without missing the newest.
    since = newest.replace(microsecond=newest.microsecond // 1000 * 1000) if newest else None
    rows = (
        table.filter((pl.col("ingested_at") >= since) & (pl.col("ingested_at") >= newest))
        .collect()
        .with_columns(
            ((pl.col("occurred_at") - pl.col("ingested_at")).dt.total_seconds() / 86400).alias(
                "days_after_ingest"
            )
        )
    )
    # Inductively: the table was unique after the previous ingest (this check said so), so a
    # duplicate must involve the newest rows: one of their ids stored before (a filter, so
    # the scan reads no other column).
    duplicated = (
        table.select("event_id", "ingested_at")
        .filter(pl.col("event_id").is_in(rows["event_id"].implode()))
        .filter(pl.col("ingested_at") < newest)
        .select(pl.len())
        .collect()
        .item()
        if rows.height
        else 0
    )
    rows = rows.with_columns(pl.lit(duplicated).alias("duplicated_ids"))
    checks = checks_for(stream, tolerance_days)
    return run_checks({"rows": rows}, checks, {"rows": ["event_id"]}, EVENT_ASSETS[stream])


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(c.name, asset=EVENT_ASSETS[stream], description=c.description)
        for stream in STREAMS
        for c in checks_for(stream, 1.0)  # the names and descriptions; the bound comes at run time
    ],
    name="event_checks",
)
def event_checks(corners: CornersResource, great_expectations: GreatExpectations):
    """Every event table's checks in one step: on an executor that starts a process per step,
    one start-up (and one import of Great Expectations) instead of one per stream."""
    home = corners.layout
    newest = newest_ingest(home)
    tolerance = corners.settings.ingest.future_tolerance_days
    for stream in STREAMS:
        table = delta.scan_events(home, stream)
        yield from recorded(
            home, EVENT_ASSETS[stream], audit_events(table, stream, tolerance, newest)
        )
