"""`corners query`: DuckDB SQL over the Delta tables of a home."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import polars as pl
from deltalake import DeltaTable

from pipelines import store
from pipelines.store import Home


class QueryError(ValueError):
    """A query DuckDB refused; the message is DuckDB's."""


def run_query(home: Home, sql: str) -> pl.DataFrame:
    """Run `sql` with every existing table registered under its name (see `Home.tables`).

    Tables are handed to DuckDB as Arrow datasets of their current Delta version (DuckDB's
    own Delta extension would need a download)."""
    con = duckdb.connect()
    try:
        for name, path in home.tables().items():
            if store.exists(path):
                con.register(name, DeltaTable(str(path)).to_pyarrow_dataset())
        try:
            return con.sql(sql).pl()
        except duckdb.Error as exc:
            known = ", ".join(n for n, p in home.tables().items() if store.exists(p)) or "none"
            raise QueryError(f"{exc}\n(tables in {home.root}: {known})") from None
    finally:
        con.close()


def write_result(frame: pl.DataFrame, fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        if not output:
            raise QueryError("--format parquet needs --output FILE")
        frame.write_parquet(Path(output))
    elif fmt == "csv":
        frame.write_csv(Path(output) if output else sys.stdout)
    else:
        frame.write_ndjson(Path(output) if output else sys.stdout)
