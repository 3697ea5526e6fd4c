"""`corners query`: SQL over the home's tables."""

from __future__ import annotations

import click
import polars as pl

from pipelines.cli.options import EXIT_OK, App, CliError, command_options, count, examples
from store.catalog import CATALOG
from store.query import VIEWS, run_query, write_result

TABLES = ", ".join([*CATALOG, *VIEWS])


@click.command(
    help="Run DuckDB SQL over the tables of the home: "
    + TABLES
    + ". Prints an aligned table, or writes csv (lists as JSON text), json (one object per "
    "line) or parquet.",
    epilog=examples(
        """
        corners query "SELECT band, count(*) FROM fit_health GROUP BY band"
        corners query "SELECT * FROM quarantine" --format csv --output quarantine.csv
        """
    ),
)
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
)
@click.option("--output", help="file to write (csv and json default to standard output)")
@click.option(
    "--limit",
    type=count(1, 10_000_000),
    default=50,
    show_default=True,
    help="rows shown as a table",
)
@command_options
def query(app: App, sql: str, fmt: str, output: str | None, limit: int):
    frame = run_query(app.home, sql)
    if fmt == "table":
        if output:
            raise CliError("--output needs --format csv, json or parquet")
        with pl.Config(
            tbl_rows=limit,
            tbl_cols=-1,
            fmt_str_lengths=60,
            tbl_hide_dataframe_shape=True,
            tbl_width_chars=200,
        ):
            click.echo(frame.head(limit))
        if frame.height > limit:
            click.echo(f"({frame.height:,} rows; {limit} shown, use --limit or --format)")
        return EXIT_OK
    write_result(frame, fmt, output)
    return EXIT_OK
