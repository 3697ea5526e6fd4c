"""`corners demo`: sample data, a full refresh through yesterday, and a summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from fitmodel.validation import reading
from pipelines.cli.options import EXIT_OK, App, command_options, examples
from pipelines.cli.refresh import run
from store.renewals import validation_at
from store.sample import write_sample
from store.summary import ingest_totals, most_degraded, quarantine_reasons


@click.command(
    epilog=examples("corners demo --home /tmp/corners-demo"),
)
@command_options
def demo(app: App):
    """Write a sample landing folder (24 partnerships, 400 days, 1% bad lines) to <home>/landing
    (or --landing), run a refresh through yesterday (ingest, fit model, checks, publish, alerts)
    and print partnerships per band, the most degraded partnerships with their drivers,
    quarantine counts, where the tables are, how to query them and how to open the UI."""
    home = app.home
    as_of = datetime.now(UTC).date() - timedelta(days=1)
    summary = write_sample(
        app.landing_dir, partnerships=24, days=400, seed=7, bad_rate=0.01, end=as_of
    )
    click.echo(
        f"sample: {summary.partnerships} partnerships, {summary.lines:,} lines in {app.landing_dir}"
    )
    code = run(app, as_of=as_of, rebuild=False)
    if code != EXIT_OK:
        return code
    t = ingest_totals(home)
    click.echo(
        f"ingested: {t['lines_read']:,} lines read = {t['stored']:,} stored + "
        f"{t['duplicates']:,} duplicates + {t['quarantined']:,} quarantined"
    )
    movers = most_degraded(home, as_of)
    click.echo(f"most degraded over {app.config.model.windows.trend_days} days:")
    for r in movers.iter_rows(named=True):
        click.echo(
            f"  {r['partnership_id']} {r['name']:<28} fit {r['fit_score']:5.1f} "
            f"({r['score_change_30d']:+.1f}), band {r['band']}, "
            f"driver {r['top_negative_driver'] or '-'}"
        )
    table = validation_at(home)
    if table is not None:
        click.echo("does the fit score predict renewals? (corners validate)")
        for row in table.iter_rows(named=True):
            click.echo(f"  {reading(row)}")
    reasons = quarantine_reasons(home)
    click.echo(
        "quarantined lines by reason: " + ", ".join(f"{r} {n}" for r, n in reasons.iter_rows())
    )
    click.echo(f"tables: {home.path('fit_health')}, {home.root}/events/<stream>, {home.quarantine}")
    click.echo(
        f'query:  corners query --home {home.root} "SELECT band, count(*) FROM fit_health '
        'WHERE as_of = (SELECT max(as_of) FROM fit_health) GROUP BY band ORDER BY band"'
    )
    if movers.height:
        click.echo(f"why:    corners explain {movers['partnership_id'][0]} --home {home.root}")
    click.echo(f"UI:     corners ui --home {home.root}")
    return EXIT_OK
