"""Validation of the partnership registry file (`partnerships.csv`, SPEC §1)."""

from __future__ import annotations

import polars as pl

from fitmodel.domain import EARLIEST_DAY, LATEST_DAY

REGISTRY_COLUMNS = (
    "partnership_id",
    "name",
    "partner_a",
    "partner_b",
    "industry_a",
    "industry_b",
    "owner",
    "started_on",
    "ended_on",
)


class RegistryError(ValueError):
    """A registry file rejected whole; the message names the file and the offending rows."""


def parse_registry(raw: pl.DataFrame, source: str) -> pl.DataFrame:
    """Typed registry rows from a CSV read as text; raise `RegistryError` on any invalid row.

    Row numbers in messages are CSV line numbers (the header is line 1).
    """
    missing = [c for c in REGISTRY_COLUMNS if c not in raw.columns and c != "ended_on"]
    if missing:
        raise RegistryError(f"{source}: missing column(s) {', '.join(missing)}")
    if raw.height == 0:
        raise RegistryError(
            f"{source}: registry rejected, the previous registry stays: it has no partnerships "
            "(a partnership leaves corners by its ended_on, not by leaving the file)"
        )
    if "ended_on" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, pl.String).alias("ended_on"))
    text = raw.select(
        [pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in REGISTRY_COLUMNS]
    ).with_row_index("line", offset=2)
    started = pl.col("started_on").str.to_date("%Y-%m-%d", strict=False)
    ended = pl.col("ended_on").str.to_date("%Y-%m-%d", strict=False)
    problems = text.select(
        "line",
        pl.concat_list(
            pl.when(pl.col("partnership_id").is_null()).then(pl.lit("missing partnership_id")),
            pl.when(
                pl.col("partnership_id").is_duplicated() & pl.col("partnership_id").is_not_null()
            ).then(pl.lit("duplicate partnership_id ") + pl.col("partnership_id")),
            pl.when(pl.col("started_on").is_null()).then(pl.lit("missing started_on")),
            pl.when(pl.col("started_on").is_not_null() & started.is_null()).then(
                pl.lit("bad date in started_on: ") + pl.col("started_on")
            ),
            pl.when(pl.col("ended_on").is_not_null() & ended.is_null()).then(
                pl.lit("bad date in ended_on: ") + pl.col("ended_on")
            ),
            pl.when(ended < started).then(pl.lit("ended_on is before started_on")),
            pl.when(~started.is_between(EARLIEST_DAY, LATEST_DAY)).then(
                pl.lit(f"started_on outside {EARLIEST_DAY}..{LATEST_DAY}: ") + pl.col("started_on")
            ),
            pl.when(~ended.is_between(EARLIEST_DAY, LATEST_DAY)).then(
                pl.lit(f"ended_on outside {EARLIEST_DAY}..{LATEST_DAY}: ") + pl.col("ended_on")
            ),
        )
        .list.drop_nulls()
        .alias("problems"),
    ).filter(pl.col("problems").list.len() > 0)
    if problems.height:
        shown = [
            f"  line {row['line']}: {'; '.join(row['problems'])}"
            for row in problems.head(20).iter_rows(named=True)
        ]
        more = f"\n  … and {problems.height - 20} more" if problems.height > 20 else ""
        raise RegistryError(
            f"{source}: registry rejected, the previous registry stays:\n" + "\n".join(shown) + more
        )
    return text.drop("line").with_columns(started_on=started, ended_on=ended)
