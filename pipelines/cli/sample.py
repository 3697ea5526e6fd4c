"""`corners sample`: a realistic landing folder."""

from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli.options import DAY, App, command_options, count_option, examples
from store.sample import write_sample


@click.command(
    epilog=examples(
        "corners sample ./landing --partnerships 20 --days 400 --bad-rate 0.01",
        "corners sample ./landing --seed 3 --end 2026-06-30",
    ),
)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@count_option("--partnerships", 1, 1_000_000, 24)
@count_option("--days", 1, 36_500, 400, "of history")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--bad-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="share of bad lines, 0..1 (must be between 0 and 1)",
)
@click.option("--end", type=DAY, help="last day of events (default: yesterday, UTC)")
@command_options
def sample(app: App, out: Path, partnerships: int, days: int, seed: int, bad_rate: float, end):
    """Write partnerships.csv and weekly JSONL files per stream, with partnerships on distinct
    trajectories (healthy, degrading, collapse, recovering, quiet, escalation_heavy), late and
    re-sent events, and optionally bad lines of every kind. Deterministic for a seed and end
    date."""
    summary = write_sample(
        out, partnerships=partnerships, days=days, seed=seed, bad_rate=bad_rate, end=end
    )
    click.echo(
        f"wrote {summary.partnerships} partnerships, {summary.events:,} events as "
        f"{summary.lines:,} lines in {summary.files} files to {out}"
    )
