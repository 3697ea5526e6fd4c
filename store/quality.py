"""The data-quality history: every check result appended to `<home>/check_results`, which
the report and `corners query` read (without asking the Dagster instance)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from deltalake import write_deltalake

from store.catalog import CATALOG
from store.home import Home


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result, as recorded."""

    check_name: str
    passed: bool
    rows_checked: int
    failed_expectations: list


def record(home: Home, asset: str, outcomes: list[CheckOutcome]) -> None:
    """Append `outcomes` (one commit)."""
    now = datetime.now(UTC)
    rows = [
        {
            "check_name": o.check_name,
            "asset": asset,
            "passed": o.passed,
            "rows_checked": o.rows_checked,
            "failed_expectations": json.dumps(o.failed_expectations),
            "checked_at": now,
        }
        for o in outcomes
    ]
    frame = pl.DataFrame(rows, schema=CATALOG["check_results"].schema)
    write_deltalake(str(home.path("check_results")), frame.to_arrow(), mode="append")
