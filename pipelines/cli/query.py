"""`corners query`: SQL over the home's tables."""

from __future__ import annotations

import click

from pipelines.cli.options import (
    App,
    CliError,
    command_options,
    count_option,
    examples,
    format_option,
)
from store.layout import PLACES
from store.query import VIEWS, relation, show, write_result

TABLES = ", ".join([*PLACES, *VIEWS])


@click.command(
    help="Run DuckDB SQL over the tables of the home: "
    + TABLES
    + ". Prints an aligned table (as many columns as the terminal holds; the footer counts "
    "rows and columns), or writes every row as csv (lists as JSON text), json (one object per "
    "line) or parquet.",
    epilog=examples(
        'corners query "SELECT band, count(*) FROM fit_health GROUP BY band ORDER BY band"',
        'corners query "SELECT * FROM quarantine" --format csv --output quarantine.csv',
    ),
)
@click.argument("sql")
@format_option("table", "csv", "json", "parquet")
@click.option("--output", help="file to write (csv and json default to standard output)")
@count_option("--limit", 1, 10_000_000, 50, "rows shown as a table (the first and last halves)")
@command_options
def query(app: App, sql: str, fmt: str, output: str | None, limit: int):
    if fmt != "table":
        write_result(app.home, sql, fmt, output)
        return
    if output:
        raise CliError("--output needs --format csv, json or parquet")
    with relation(app.home, sql) as rows:
        show(rows, limit)
