"""`corners backtest`: replay the whole history under a candidate configuration and compare
it with what is published (SPEC §11)."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from pipelines.cli.options import App, CliError, command_options, examples

CANDIDATE_EXAMPLE = """
# heavier-responsiveness.yaml: the defaults, with responsiveness weighted twice as much
# and a fourth horizon (a component given needs its bad, good and weight; alerts.rules
# given replaces every rule)
model:
  components:
    responsiveness: {bad: 30, good: 2, weight: 0.30}
validation:
  horizons_days: [30, 60, 90, 180]
"""
"""The candidate `--help` shows (a test runs it against the defaults)."""

SHOWN_MOVED = 20
"""Partnerships in another band printed at most (the report and the query have them all)."""


def _print(title: str, frame: pl.DataFrame, empty: str) -> None:
    click.echo(f"\n{title}")
    if frame.is_empty():
        click.echo(f"  {empty}")
        return
    with pl.Config(
        tbl_cols=-1, tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
        tbl_width_chars=200, fmt_str_lengths=80,
    ):  # fmt: skip
        click.echo(frame)


SHOWN = {"decided_gates": "decided", "scored_gates": "scored", "failures": "failed",
         "auc": "auc", "alert_recall": "recall", "alert_precision": "precision"}  # fmt: skip
"""The validation figures printed (the report and the query have every one)."""


def _validation(frame: pl.DataFrame) -> pl.DataFrame:
    """The figures that say most, current and candidate side by side."""
    return frame.select(
        pl.col("horizon_days").alias("horizon"),
        *[
            pl.col(f"{column}_{who}").round(3).alias(f"{label} {short}")
            for column, label in SHOWN.items()
            for who, short in (("current", "now"), ("candidate", "cand"))
        ],
    )


def _by_month(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.group_by("month")
        .agg(pl.col("current", "candidate", "difference").sum())
        .sort("month")
        .with_columns(pl.col("month").dt.strftime("%Y-%m"))
    )


def _show(comparison, report: Path, home: Path) -> None:
    c = comparison
    _print("validation (SPEC §10), current vs candidate", _validation(c.validation), "no gates")
    _print("alert episodes per rule", c.episodes_by_rule, "no alert episode either way")
    _print("alert episodes opened per month (all rules)", _by_month(c.episodes_by_month),
           "no alert episode either way")  # fmt: skip
    _print(f"bands on {c.as_of}: current (rows) x candidate (columns)", c.bands, "no rows")
    moved = c.moved.head(SHOWN_MOVED)
    more = c.moved.height - moved.height
    _print(
        f"partnerships in another band on {c.as_of}: {c.moved.height}",
        moved,
        "every partnership keeps its band",
    )
    if more:
        click.echo(f"  ... and {more} more (corners query \"SELECT * FROM "
                   f"backtests.\\\"{c.name}\\\".compare_moved\")")  # fmt: skip
    click.echo(f"\nreport: {report}")
    click.echo(
        f"tables: corners query --home {home} "
        f"'SELECT * FROM backtests.\"{c.name}\".fit_health LIMIT 5'"
    )
    click.echo("the candidate differs from what is published" if c.differs
               else "no difference from what is published")  # fmt: skip


@click.command(
    help="Recompute fit_health, alerts, renewal_gates and validation from the event store "
    "alone, through the last refresh's as_of, under the candidate configuration's model, "
    "alerts.rules and validation settings, into <home>/backtests/NAME/; then compare them "
    "with what is published (validation per horizon, alert episodes per rule and per month, "
    "the bands on the latest day) and write <home>/backtests/NAME/report.html. Nothing is "
    "published and no one is notified; a refresh cannot run meanwhile. The candidate is a "
    "whole configuration file (the one in force, given with corners --config or "
    "$CORNERS_CONFIG, with changes): one that differs in any other setting is refused. Query "
    'the results as backtests."NAME".<table> (fit_health, alerts, renewal_gates, validation, '
    "compare_validation, compare_episodes_by_rule, compare_episodes_by_month, compare_bands, "
    "compare_moved).\n\nAn example candidate, with the default configuration in force:\n\n\b"
    + CANDIDATE_EXAMPLE.rstrip().replace("\n", "\n  "),
    epilog=examples(
        "corners backtest --config heavier-responsiveness.yaml",
        "corners --config corners.yaml backtest --config candidate.yaml --name q3-weights",
        "corners backtest --list",
        "corners query 'SELECT * FROM backtests.\"q3-weights\".compare_validation'",
    ),
)
@click.option(
    "--config", "candidate", metavar="CANDIDATE.yaml",
    help="the candidate configuration (the configuration in force comes from corners "
    "--config or $CORNERS_CONFIG)",
)  # fmt: skip
@click.option("--name", help="the backtest's name (default: the candidate file's stem)")
@click.option("--list", "listed", is_flag=True, help="list the home's backtests and stop")
@command_options(with_config=False)
def backtest(app: App, candidate: str | None, name: str | None, listed: bool):
    from store.backtest import listing

    if listed:
        table = listing(app.home)
        if table.is_empty():
            click.echo(f"no backtest in {app.home.root} yet")
        else:
            _print(f"backtests in {app.home.root}", table, "")
        return
    if not candidate:
        raise CliError("give the candidate configuration: corners backtest --config FILE")
    from pipelines.run import no_refresh
    from store import backtest as bt
    from store.backtest_report import write_report
    from store.progress import Progress
    from store.settings import load_config

    candidate_file = Path(candidate).expanduser()
    chosen = candidate_file.stem if name is None else name
    bt.backtest_home(app.home, chosen)  # a bad name is refused before any work
    proposed = load_config(candidate_file)
    current = app.config
    progress = Progress("backtest", enabled=app.progress)
    done = bt.run(
        app.home,
        current,
        proposed,
        chosen,
        source=str(candidate_file.resolve()),
        progress=progress,
        exclusion=lambda: no_refresh(app.home),
    )
    comparison = bt.compare(app.home, done.name, current, proposed)
    bt.save(app.home, comparison)
    report = write_report(app.home, comparison)
    _show(comparison, report, app.home.root)
