"""Shards: the partnerships split into `scale.shards` groups, each computed and audited on
its own, published together in one commit (README "Shards").

A partnership's shard is the first 16 hex digits of the MD5 of its UTF-8 id, read as an
unsigned number, modulo N — the same in every process and release, and easy to reproduce:
`int(hashlib.md5(pid.encode()).hexdigest()[:16], 16) % N` in Python,
`CAST('0x' || md5(pid)[1:16] AS UBIGINT) % N` in DuckDB (which computes it here).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from fitmodel.indicators import Events
from store import delta
from store.home import Home

P = "partnership_id"


def shard_of(ids: pl.Series, shards: int) -> pl.Series:
    """The shard of each id (UInt32), in the order given."""
    import duckdb  # here: the commands that only read start sooner without it

    con = duckdb.connect()
    try:
        con.execute("SET threads TO 1")
        frame = pl.DataFrame({P: ids.cast(pl.String)}).with_row_index("_i")
        con.register("ids", frame.to_arrow())
        out = con.sql(
            f"SELECT _i, CAST(CAST('0x' || md5({P})[1:16] AS UBIGINT) % {int(shards)} AS UINTEGER)"
            " AS shard FROM ids ORDER BY _i"
        ).pl()
    finally:
        con.close()
    return out["shard"].alias("shard")


def members(registry: pl.LazyFrame, shard: int, shards: int) -> pl.LazyFrame:
    """The registry rows of one shard."""
    table = registry.collect()
    return table.filter(shard_of(table[P], shards) == shard).lazy()


def events_of_members(events: Events, ids: pl.Series) -> Events:
    """The events of the partnerships `ids` (the filter reaches the Parquet scans)."""
    keep = pl.col(P).is_in(ids.implode())
    return Events(*(getattr(events, f.name).filter(keep) for f in fields(events)))


def shard_path(home: Home, shard: int) -> Path:
    """Where a shard's candidate is kept: `candidate/fit_health_shards/<shard>/` (Delta)."""
    return home.root / "candidate" / "fit_health_shards" / str(shard)


def day_files(home: Home, shards: int) -> list[tuple[date, Path, int]]:
    """Every shard candidate's day files as (day, file, rows), in day order, from their
    Delta logs (no data file is read)."""
    files = []
    for k in range(shards):
        path = shard_path(home, k)
        if not delta.exists(path):
            continue
        adds = pl.DataFrame(DeltaTable(str(path)).get_add_actions(flatten=True))
        for relative, rows, day in adds.select(
            "path", "num_records", f"partition.{delta.DAY}"
        ).iter_rows():
            files.append((day, path / relative, rows))
    return sorted(files, key=lambda file: file[0])
