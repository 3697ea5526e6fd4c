"""`corners validate`: does the fit score predict what happens at the renewal gates?"""

from __future__ import annotations

from datetime import date

import click
import polars as pl

from fitmodel.validation import reading
from pipelines.cli.options import (
    App,
    CliError,
    as_of_option,
    command_options,
    examples,
    format_option,
)
from store.renewals import validation_at


@click.command(
    epilog=examples("corners validate", "corners validate --as-of 2026-10-31 --format csv"),
)
@as_of_option("the validation a refresh of this day published")
@format_option("table", "csv", "json")
@command_options
def validate(app: App, as_of: date | None, fmt: str):
    """Print the validation table (SPEC §10) of the last publication, or with --as-of the one the
    refresh whose as_of was DATE published (from the table's Delta history): per horizon, the
    decided and scored gates, the failures, the AUC of the fit score h days before against the
    outcomes, failures per band and the alerts' recall and precision, each with a line that reads
    it."""
    table = validation_at(app.home, as_of)
    if table is None:
        when = f" for as_of {as_of}" if as_of else ""
        raise CliError(f"no validation table{when} in {app.home.root}: run corners refresh first")
    if fmt == "csv":
        click.echo(table.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(table.write_ndjson(), nl=False)
    else:
        with pl.Config(tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=220):
            click.echo(table)
        for row in table.iter_rows(named=True):
            click.echo(reading(row))
