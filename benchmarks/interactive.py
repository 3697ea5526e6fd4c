"""Where people wait: how fast the command line answers on a large home.

    python benchmarks/refresh.py              # once: the 10,000-partnership home
    python benchmarks/interactive.py          # then time the interactive commands on it

For `corners --help`, `corners alerts`, `corners explain` and two `corners query`s it prints
the median wall time of `--repeat` runs of the real command (a new process each, as a person
types it), whether Dagster or Great Expectations were imported, and, for comparison: for
alerts and explain the same work done in-process (their "own work"); for the queries, shown as a
table (the default) and written as csv (every row, through polars), DuckDB reading the same
Parquet files directly in a new process of its own. Targets: --help, alerts
and explain at most 0.6 s plus their own work, without Dagster or GE; each query at most
1.0 s and 2× DuckDB's direct read.

corners' own modules are byte-compiled first, as an installed package's are (pip compiles a
wheel's modules when it installs them). A checkout run with PYTHONDONTWRITEBYTECODE set (as
this machine's shell is) otherwise compiles them again in every command: 40-50 ms of
explain's start here.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGES = ("fitmodel", "store", "assets", "checks", "pipelines")

PROBE = """
import atexit, json, sys
from pipelines.cli.app import run
def report():
    heavy = [m for m in ("dagster", "great_expectations") if m in sys.modules]
    print(json.dumps({"heavy": heavy}), file=sys.stderr)
atexit.register(report)
run()  # as the `corners` script does: its exit handlers, then the exit
"""

DIRECT = """
import sys, duckdb
from deltalake import DeltaTable
files = DeltaTable(sys.argv[1]).file_uris()
con = duckdb.connect()
listed = ", ".join("'" + f + "'" for f in files)
con.execute(f"CREATE VIEW fit_health AS SELECT * FROM read_parquet([{listed}], "
            "hive_partitioning = true, hive_types = {'as_of': 'DATE'})")
con.sql(sys.argv[2]).fetchall()
"""


def timed(args: list[str], repeat: int) -> tuple[float, dict]:
    """Median wall seconds of `repeat` runs of a new Python process, and its last report."""
    times, report = [], {}
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if done.returncode not in (0, None):
            raise SystemExit(f"{args[3:]} failed:\n{done.stderr[-2000:]}")
        lines = [line for line in done.stderr.splitlines() if line.startswith("{")]
        report = json.loads(lines[-1]) if lines else {}
    return statistics.median(times), report


def corners(home: str, *args: str) -> list[str]:
    return [sys.executable, "-c", PROBE, *args, "--home", home]


def own_work(home: Path, pid: str, repeat: int) -> dict[str, float]:
    """The alerts listing and the explanation, in this process, after their imports (the
    median of `repeat` runs each, after one that warms the imports)."""
    from fitmodel.config import CornersConfig
    from fitmodel.explain import explain
    from store import alerts, delta
    from store.home import Home
    from store.publish import events_of, latest_day

    corners_home = Home(home)

    def listing() -> None:
        alerts.listing(corners_home).head(50)

    def explanation() -> None:
        fit_health = delta.scan_table(corners_home, "fit_health")
        explain(
            fit_health,
            events_of(corners_home),
            pid,
            latest_day(corners_home, pid, fit_health),  # as the command finds the latest row
            30,
            CornersConfig().model,
        )

    out = {}
    for name, work in (("alerts", listing), ("explain", explanation)):
        work()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            work()
            times.append(time.perf_counter() - t)
        out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default="/tmp/corners-refresh-bench")
    parser.add_argument("--partnership", default="P00042")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    home = args.home
    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)
    work = own_work(Path(home), args.partnership, args.repeat)
    rows = []
    for name, command, own in [
        ("corners --help", [sys.executable, "-c", PROBE, "--help"], 0.0),
        ("corners alerts", corners(home, "alerts", "--limit", "50"), work["alerts"]),
        ("corners explain", corners(home, "explain", args.partnership), work["explain"]),
    ]:
        wall, report = timed(command, args.repeat)
        rows.append((name, wall, own, report.get("heavy")))
        print(
            f"{name:<18} {wall:5.2f} s wall (median of {args.repeat}); own work {own:.2f} s, "
            f"so {wall - own:.2f} s beyond it; imported {report.get('heavy') or 'neither Dagster nor GE'}"
        )
    table = str(Path(home) / "published" / "fit_health")
    for name, sql in [
        ("count", "select count(*) from fit_health"),
        (
            "one partnership, 90 days",
            f"select * from fit_health where partnership_id = '{args.partnership}' "
            "and as_of > (select max(as_of) from fit_health) - 90",
        ),
    ]:
        direct, _ = timed([sys.executable, "-c", DIRECT, table, sql], args.repeat)
        for fmt in ("table", "csv"):
            wall, _ = timed(corners(home, "query", sql, "--format", fmt), args.repeat)
            print(
                f"corners query ({name}, --format {fmt}): {wall:.2f} s wall; "
                f"DuckDB directly {direct:.2f} s; ratio {wall / direct:.2f}x"
            )


if __name__ == "__main__":
    main()
