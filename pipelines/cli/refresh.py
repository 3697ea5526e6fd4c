"""`corners refresh` and `corners rebuild`: the refresh job, run in this process and
recorded in the home's Dagster instance."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

import click
import polars as pl

from assets.resources import CornersResource
from pipelines.cli.options import (
    EXIT_FAIL,
    EXIT_OK,
    App,
    CliError,
    as_of_option,
    command_options,
    examples,
)
from pipelines.run import run_refresh
from store import delta
from store.publish import check_as_of, last_publication
from store.report import report_path


def refresh_summary(app: App) -> list[str]:
    """What the last publication holds, in a few lines."""
    home = app.home
    version, plan = last_publication(home)
    latest = delta.scan_table(home, "fit_health").filter(pl.col("as_of") == plan.as_of)
    bands = latest.group_by("band").len().sort("band").collect()
    lines = [
        f"published fit_health through {plan.as_of} ({plan.mode}: "
        f"{'all days' if plan.start is None else 'days from ' + str(plan.start)}, "
        f"{plan.rows:,} rows written, Delta version {version})",
        "partnerships per band (latest day): "
        + ", ".join(f"{b} {n}" for b, n in bands.iter_rows()),
    ]
    alerts = delta.scan_table(home, "alerts").filter(pl.col("status") == "open").collect()
    severities = alerts.group_by("severity").len().sort("severity").iter_rows()
    lines.append(
        f"open alerts: {alerts.height}"
        + "".join(f", {n} {s}" for s, n in severities)
        + " (corners alerts --open)"
    )
    runs = delta.scan_table(home, "notification_runs").sort("ran_at").collect()
    if runs.height:
        run = runs.row(-1, named=True)
        lines.append(
            f"notifications: {run['enqueued']} transition(s) queued, {run['delivered']} "
            f"delivered, {run['failed']} failed (due again next refresh), {run['held']} held "
            f"by snoozes, {run['dropped']} dropped"
        )
    report = report_path(home, plan.as_of)
    if report.exists():
        lines.append(f"report: {report}")
    return lines


def run(app: App, *, as_of: date | None, rebuild: bool, allow_future: bool = False) -> int:
    """Run the refresh job; print what failed or what was published."""
    home = app.home
    app.config  # noqa: B018 - a bad configuration fails here, with its key path
    if not rebuild and not app.landing_dir.is_dir():
        raise CliError(f"landing folder not found: {app.landing_dir}")
    day = as_of or datetime.now(UTC).date() - timedelta(days=1)
    check_as_of(home, day, rebuild=rebuild, allow_future=allow_future)
    corners = CornersResource(
        home=str(home.root), landing=str(app.landing_dir), config_path=app.config_file
    )
    outcome = run_refresh(corners, as_of=day, rebuild=rebuild, allow_future=allow_future)
    for text in outcome.warnings:
        print(f"warning: {text}", file=sys.stderr)
    for text in outcome.failed_checks:
        print(text, file=sys.stderr)
    if outcome.error and not outcome.blocking_failed:
        raise CliError(f"refresh failed (Dagster run {outcome.run_id}):\n{outcome.error}")
    if not outcome.published:
        kept = f"(v{outcome.version}) " if outcome.version is not None else ""
        print(
            f"corners: error: fit_health was not published: blocking checks failed (Dagster "
            f"run {outcome.run_id}); the last good version {kept}stays readable",
            file=sys.stderr,
        )
        return EXIT_FAIL
    click.echo("\n".join(refresh_summary(app)))
    return EXIT_OK


@click.command(
    epilog=examples("corners refresh", "corners refresh --as-of 2026-03-31"),
)
@as_of_option("last day to compute (default: yesterday, UTC)")
@click.option("--allow-future", is_flag=True, help="accept an as_of after today (UTC)")
@command_options
def refresh(app: App, as_of: date | None, allow_future: bool):
    """Ingest new landing files, recompute the fit-health days that can have changed, audit them
    with the blocking data-quality checks, publish them to <home>/published/fit_health, project
    the alerts and notify. A failing check publishes nothing, names the check and sample rows,
    and exits 2. Runs Dagster's refresh_job in this process, recorded under <home>/dagster. An
    as_of before the last published one is refused (use rebuild), and one after today unless
    --allow-future."""
    return run(app, as_of=as_of, rebuild=False, allow_future=allow_future)


@click.command(
    epilog=examples("corners rebuild", "corners rebuild --as-of 2026-06-30"),
)
@as_of_option("recompute through this day (default: the last as_of)")
@command_options
def rebuild(app: App, as_of: date | None):
    """Recompute fit-health for every day through the last refresh's as_of (or --as-of) from the
    event store alone, check it and republish; the landing folder is not read. The result equals
    what the incremental refreshes published."""
    last = last_publication(app.home)
    if last is None and as_of is None:
        raise CliError(f"nothing to rebuild: no refresh has published in {app.home.root} yet")
    return run(app, as_of=as_of or last[1].as_of, rebuild=True)
