"""`corners report`: the HTML fit-health report of a day, written again."""

from __future__ import annotations

from datetime import date

import click

from pipelines.cli.options import DAY, EXIT_OK, App, command_options, examples
from store.report import build_report


@click.command(
    help="Write <home>/reports/<as_of>.html (every refresh does) and print its path: a "
    "self-contained page (no network needed) with bands over time, biggest movers, trends of "
    "partnerships at risk, corner distributions, data confidence, open alerts, restatements "
    "and data quality.",
    epilog=examples(
        """
        corners report
        corners report --as-of 2026-10-31
        """
    ),
)
@click.option("--as-of", type=DAY, help="the day to report on (default: the latest)")
@command_options
def report(app: App, as_of: date | None):
    app.fit_health()
    click.echo(build_report(app.home, app.config, as_of))
    return EXIT_OK
