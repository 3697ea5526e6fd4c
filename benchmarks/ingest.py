"""Ingest benchmark: corners' ingest of generated landing files against DuckDB's read_json.

    python benchmarks/ingest.py --partnerships 2400 --days 365

Prints lines/s, wall time and peak RSS of the corners ingest (run in a child process so the
figure is its own), and in the same run DuckDB's `read_json` of the same files into Parquet
as the baseline, with the ratio. Targets (2 cores): ≥ 250,000 lines/s, peak RSS < 2 GB,
≤ 2× DuckDB's time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb  # noqa: E402


def _child_ingest(home: str, landing: str) -> None:
    from fitmodel.config import CornersConfig
    from pipelines.ingest import ingest
    from pipelines.store import Home

    started = time.perf_counter()
    report = ingest(Home(Path(home)), Path(landing), CornersConfig())
    seconds = time.perf_counter() - started
    rss = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "rss_mb": rss, **report.totals()}))


def _duckdb_baseline(landing: Path, out: Path) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    started = time.perf_counter()
    rows = 0
    for stream in ("meetings", "escalations", "communications", "surveys"):
        pattern = str(landing / stream / "**" / "*.jsonl*")
        con.execute(
            f"COPY (SELECT * FROM read_json('{pattern}', format='newline_delimited', "
            f"ignore_errors=true, union_by_name=true)) TO '{out / stream}.parquet'"
        )
        rows += con.execute(f"SELECT count(*) FROM '{out / stream}.parquet'").fetchone()[0]
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=2400)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bad-rate", type=float, default=0.005)
    parser.add_argument("--workdir", help="keep files here (default: a temporary folder)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_ingest(*args.child)
        return

    from pipelines.sample import write_sample

    work = Path(args.workdir or tempfile.mkdtemp(prefix="corners-bench-"))
    landing, home, out = work / "landing", work / "home", work / "duckdb"
    for folder in (home, out):
        shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True)
    if not landing.exists():
        t = time.perf_counter()
        summary = write_sample(
            landing,
            partnerships=args.partnerships,
            days=args.days,
            seed=args.seed,
            bad_rate=args.bad_rate,
            end=date(2026, 6, 30),
        )
        print(
            f"generated {summary.lines:,} lines in {summary.files} files "
            f"({time.perf_counter() - t:.1f} s)"
        )
    size = sum(p.stat().st_size for p in landing.rglob("*.jsonl*"))
    print(f"landing: {size / 1e6:,.0f} MB")

    child = subprocess.run(
        [sys.executable, __file__, "--child", str(home), str(landing)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    duck_seconds, duck_rows = _duckdb_baseline(landing, out)
    rate = result["lines_read"] / result["seconds"]
    print(
        f"corners ingest: {result['lines_read']:,} lines in {result['seconds']:.1f} s = "
        f"{rate:,.0f} lines/s; peak RSS {result['rss_mb']:,.0f} MB "
        f"(stored {result['stored']:,}, duplicates {result['duplicates']:,}, "
        f"quarantined {result['quarantined']:,})"
    )
    print(f"duckdb read_json -> parquet: {duck_rows:,} rows in {duck_seconds:.1f} s")
    print(f"ratio corners / duckdb: {result['seconds'] / duck_seconds:.2f}x")
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
