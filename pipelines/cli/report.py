"""`corners report`: the HTML fit-health report of a day, written again."""

from __future__ import annotations

from datetime import date

import click

from pipelines.cli.options import App, as_of_option, command_options, examples
from store.report import build_report


@click.command(
    epilog=examples("corners report", "corners report --as-of 2026-10-31"),
)
@as_of_option("the day to report on (default: the latest)")
@command_options
def report(app: App, as_of: date | None):
    """Write <home>/reports/<as_of>.html (every refresh does) and print its path: a
    self-contained page (no network needed) with bands over time, biggest movers, trends of
    partnerships at risk, corner distributions, data confidence, open alerts, restatements and
    data quality."""
    app.fit_health()
    click.echo(build_report(app.home, app.config, as_of))
