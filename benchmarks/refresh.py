"""Nightly-refresh benchmark on the fit-model benchmark's store (10,000 partnerships × 3 years).

    python benchmarks/fitmodel.py --polars-only   # once: the events and fit_previous
    python benchmarks/refresh.py                  # a home from them; times a refresh
    python benchmarks/refresh.py --daemon         # and the same run under dagster-daemon

Builds a corners home whose event tables hold every event before the last day, whose
published fit_health runs through the day before (from the fit-model benchmark), and whose
landing folder holds the last day's events as JSONL, with the alerts and notifications of the
day before. Then runs the real `corners refresh`
for that day and prints its wall time and each Dagster step's time, checks included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
from deltalake import write_deltalake  # noqa: E402

from fitmodel.config import CornersConfig  # noqa: E402
from fitmodel.domain import STREAMS  # noqa: E402
from fitmodel.events import EVENT_TYPES, stream_schema  # noqa: E402
from fitmodel.planning import Plan, model_hash  # noqa: E402
from store.alerts import refresh_alerts  # noqa: E402
from store.catalog import REGISTRY_SCHEMA  # noqa: E402
from store.home import Home  # noqa: E402
from store.outbox import notify  # noqa: E402
from store.publish import write_publication  # noqa: E402

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


def build(work: Path, home: Home) -> int:
    shutil.rmtree(home.root, ignore_errors=True)
    loaded = AS_OF - timedelta(hours=6)
    landing = home.root / "landing"
    new_lines = 0
    for stream in STREAMS:
        events = pl.scan_parquet(work / f"{stream}.parquet")
        schema = stream_schema(stream)
        old = (
            events.filter(pl.col("occurred_at") < AS_OF)
            .with_columns(
                pl.lit(None, pl.String).alias("extra"),
                pl.col("event_id").alias("content_hash"),
                pl.lit(loaded).alias("ingested_at"),
                pl.lit("history").alias("source_file"),
                pl.lit("history").alias("file_hash"),
                pl.lit(0, pl.Int64).alias("line_number"),
                pl.lit("history").alias("ingest_batch"),
            )
            .select(list(schema))
            .cast(dict(schema))
        )
        for i, part in enumerate(old.collect().iter_slices(5_000_000)):
            write_deltalake(
                str(home.events(stream)), part.to_arrow(), mode="append" if i else "overwrite"
            )
        new = events.filter(pl.col("occurred_at") >= AS_OF).collect()
        for event_type, (s, specs) in EVENT_TYPES.items():
            if s != stream:
                continue
            rows = new.filter(pl.col("event_type") == event_type).select(
                "event_id",
                "event_type",
                "partnership_id",
                pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                *[f.name for f in specs],
            )
            if rows.height:
                path = landing / stream / f"{event_type}-{AS_OF:%Y-%m-%d}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                rows.write_ndjson(path)
                new_lines += rows.height
    registry = (
        pl.read_parquet(work / "registry.parquet")
        .with_columns(
            pl.lit("partnerships.csv").alias("source_file"),
            pl.lit("bench").alias("file_hash"),
            pl.lit(loaded).alias("loaded_at"),
        )
        .select(list(REGISTRY_SCHEMA))
        .cast(dict(REGISTRY_SCHEMA))
    )
    write_deltalake(str(home.registry), registry.to_arrow())
    previous = (
        pl.scan_parquet(work / "fit_previous.parquet")
        .with_columns(pl.lit(loaded).cast(pl.Datetime("us", "UTC")).alias("computed_at"))
        .collect()
    )
    config = CornersConfig()
    day_before = (AS_OF - timedelta(days=1)).date()
    plan = Plan(
        day_before, None, "rebuild", loaded, "bench", model_hash(config.model), previous.height
    )
    write_publication(home, previous, plan)
    # The alerts and a notification round as of the day before, as a nightly run would have
    # left them.
    alerts = refresh_alerts(home, config.alerts, config.model.windows).table
    notify(home, config.alerts, alerts, day_before, log=lambda _: None)
    return new_lines


def steps_of(home: Home, run_id: str) -> None:
    """Each Dagster step's time in the run, checks summed."""
    from pipelines.instance import instance

    with instance(home) as dagster:
        steps = dagster.get_run_step_stats(run_id)
    checks = 0.0
    for step in sorted(steps, key=lambda s: s.start_time or 0):
        seconds = (step.end_time or 0) - (step.start_time or 0)
        if step.step_key.endswith("_checks"):
            checks += seconds
        print(f"  {step.step_key:<32} {seconds:6.2f} s")
    print(f"  of which checks: {checks:.1f} s")


def command_line(home: Home) -> tuple[float, str]:
    """A nightly `corners refresh` of the new day; its wall time and run id."""
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "refresh", "--home", str(home.root),
         "--as-of", AS_OF.date().isoformat(), "--quiet"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t
    print(done.stdout.strip() or done.stderr[-2000:])
    from pipelines.instance import instance

    with instance(home) as dagster:
        return wall, dagster.get_runs(limit=1)[0].run_id


def under_the_daemon(home: Home) -> tuple[float, str]:
    """The same refresh launched through the webserver and run by the daemon's queue: from
    the launch to the run's success."""
    from tests.dagster_processes import Dagster

    with Dagster(home.root) as dagster:
        t = time.perf_counter()
        run_id = dagster.launch(
            "refresh_job",
            {"ops": {"fit_health_candidate": {"config": {"as_of": str(AS_OF.date())}}}},
        )
        status = dagster.wait_for_run(run_id, seconds=900)
        wall = time.perf_counter() - t
    print(f"daemon run {run_id}: {status}")
    return wall, run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/corners-fitmodel-bench/10000x1095-s5-a1.5")
    parser.add_argument("--home", default="/tmp/corners-refresh-bench")
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="also time the same refresh launched through the webserver and run by the daemon",
    )
    args = parser.parse_args()
    home = Home(Path(args.home))
    runs = [("command line", command_line)]
    if args.daemon:
        runs.append(("daemon", under_the_daemon))
    times = {}
    for name, runner in runs:
        t = time.perf_counter()
        lines = build(Path(args.work), home)
        os.sync()  # the store's 2 GB written out first, not under the timed refresh
        print(
            f"built the store in {time.perf_counter() - t:.0f} s; {lines:,} new lines for "
            f"{AS_OF.date()} in {home.root / 'landing'}"
        )
        wall, run_id = runner(home)
        times[name] = wall
        print(f"{name}: {wall:.1f} s wall, including start-up; steps:")
        steps_of(home, run_id)
    if args.daemon:
        ratio = times["daemon"] / times["command line"]
        print(f"daemon / command line: {ratio:.2f}x")


if __name__ == "__main__":
    main()
