"""`corners query`: DuckDB SQL over the tables of a home.

Only the tables a query names are registered. Each is a view over the Parquet files of its
current Delta version (`DeltaTable.file_uris()`), read by DuckDB itself, so its filters use
the files' statistics and partition values (no Arrow dataset is built). A table that does not
exist yet is an empty one with its catalog columns, so every table can be queried from the
start. `refresh_log` is read from the fit-health table's history.

A query shown as a table needs neither polars nor pyarrow (DuckDB renders it, streaming the
rows it shows), so a query starts in the time DuckDB itself does. Writing a file imports
polars only (the rows come through the Arrow C stream interface); pyarrow is imported only
to make an empty table, or for the backtests' and `refresh_log`'s sources.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from deltalake import DeltaTable

from store.home import Home
from store.layout import PLACES

if TYPE_CHECKING:
    import polars as pl

VIEWS = {"refresh_log": "One row per fit-health publication (from the table's Delta history)"}
"""Names `corners query` knows beside the catalog's tables."""

KNOWN = ", ".join([*PLACES, *VIEWS, "backtests.<name>.<table>"])


class QueryError(ValueError):
    """A query that cannot run; the message is DuckDB's or names what is wrong."""


def _words(sql: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}


def names_in(sql: str) -> list[str]:
    """The known table names a query mentions (as words, case-insensitive)."""
    words = _words(sql)
    return [n for n in [*PLACES, *VIEWS] if n in words]


def _parquet(files: list[str], partition_by: tuple[tuple[str, str], ...], uniform: bool) -> str:
    """A DuckDB source over the Parquet files of a table (unless the files are `uniform`,
    DuckDB reads every file's footer first to unify their columns: 0.28 s more for a count
    over fit_health's 1,095 day files)."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    options = "" if uniform else ", union_by_name = true"
    if partition_by:
        types = ", ".join(f"'{column}': '{sql_type}'" for column, sql_type in partition_by)
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    return f"read_parquet([{listed}]{options})"


def _files(path: Path) -> list[str]:
    return DeltaTable(str(path)).file_uris() if DeltaTable.is_deltatable(str(path)) else []


def _register(con: duckdb.DuckDBPyConnection, home: Home, name: str) -> None:
    if name == "refresh_log":
        from store.publish import refresh_log

        con.register(name, refresh_log(home).to_arrow())
        return
    place = PLACES[name]
    files = _files(home.path(name))
    if not files:
        import polars as pl

        from store.catalog import CATALOG

        con.register(name, pl.DataFrame(schema=CATALOG[name].schema).to_arrow())
        return
    source = _parquet(files, place.partition_by, place.uniform_files)
    con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _register_backtests(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """`backtests.<name>.<table>`: each backtest's tables and its comparison's frames."""
    from store.backtest import sources

    con.execute("ATTACH ':memory:' AS backtests")
    for name, places in sources(home).items():
        schema = f"backtests.{_quoted(name)}"
        con.execute(f"CREATE SCHEMA {schema}")
        for table, path in places.items():
            if path.suffix == ".parquet":
                source = _parquet([str(path)], (), uniform=False)
            else:
                place = PLACES[table]
                source = _parquet(_files(path), place.partition_by, place.uniform_files)
            con.execute(f"CREATE VIEW {schema}.{_quoted(table)} AS SELECT * FROM {source}")


@contextmanager
def relation(home: Home, sql: str) -> Iterator[duckdb.DuckDBPyRelation | None]:
    """The relation of `sql` over the tables it names (None for a statement with no rows),
    open for the block; DuckDB's errors, when planning or reading, become `QueryError`."""
    if not sql.strip():
        raise QueryError(
            'the query is empty: give one SQL statement, e.g. "SELECT count(*) FROM fit_health"'
        )
    con = duckdb.connect()
    try:
        for name in names_in(sql):
            _register(con, home, name)
        if "backtests" in _words(sql):
            _register_backtests(con, home)
        yield con.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(f"{exc}\n(tables: {KNOWN})") from None
    finally:
        con.close()


def run_query(home: Home, sql: str) -> pl.DataFrame:
    """All the rows of `sql` as a frame, taken through the Arrow C stream interface (DuckDB's
    `.pl()` imports pyarrow, 0.13-0.17 s of a query written to a file)."""
    import polars as pl

    with relation(home, sql) as rows:
        return pl.DataFrame() if rows is None else pl.DataFrame(rows)


def show(rows: duckdb.DuckDBPyRelation | None, limit: int) -> None:
    """Print `rows` as an aligned table: at most `limit` rows (the first and last halves)
    and as many columns as the terminal's width holds, with the counts of both."""
    if rows is None:
        return
    width = shutil.get_terminal_size((200, 24)).columns
    rows.show(max_width=width, max_rows=limit, max_col_width=60)


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists and structs as JSON text: a CSV cell holds one value."""
    import polars as pl

    nested = [c for c, t in frame.schema.items() if isinstance(t, (pl.List, pl.Struct, pl.Array))]
    if not nested:
        return frame
    return frame.with_columns(
        pl.struct(pl.col(c)).struct.json_encode().str.slice(len(c) + 4).str.head(-1).alias(c)
        for c in nested
    )


def write_result(home: Home, sql: str, fmt: str, output: str | None) -> None:
    """Write every row of `sql` as csv, json (one object per line) or parquet, to `output` or
    (csv, json) standard output."""
    target = Path(output) if output else None
    if target is not None and not target.parent.is_dir():
        raise QueryError(f"--output {output}: the folder {target.parent} does not exist")
    if fmt == "parquet" and target is None:
        raise QueryError("--format parquet needs --output FILE")
    frame = run_query(home, sql)
    if fmt == "parquet":
        frame.write_parquet(target)
    elif fmt == "csv":
        _flat(frame).write_csv(target or sys.stdout)
    else:
        frame.write_ndjson(target or sys.stdout)
