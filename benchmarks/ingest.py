"""Ingest benchmark: corners' ingest of generated landing files against DuckDB's read_json.

    python benchmarks/ingest.py --partnerships 2400 --days 365 [--repeat 5]

Prints lines/s, wall time and peak RSS of the corners ingest (run in a child process so the
figure is its own), and in the same run DuckDB's `read_json` of the same files into Parquet
as the baseline, with the ratio. The landing files are read once before timing, so both
start from a warm page cache. With `--repeat N` each run is printed, then the median, least
and greatest of each figure (this machine's timings move by 10–15% from run to run).
Targets (2 cores): ≥ 250,000 lines/s, peak RSS < 2 GB, ≤ 2× DuckDB's time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
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
    from store.home import Home
    from store.ingest import ingest

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
        if not any((landing / stream).rglob("*.jsonl*")):
            continue  # a small sample may lack a stream; read_json refuses an empty glob
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
    parser.add_argument("--repeat", type=int, default=1, help="runs to time (default 1)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_ingest(*args.child)
        return

    from store.sample import write_sample

    work = Path(args.workdir or tempfile.mkdtemp(prefix="corners-bench-"))
    landing, home, out = work / "landing", work / "home", work / "duckdb"
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
    files = sorted(landing.rglob("*.jsonl*"))
    size = 0
    for path in files:  # warm the page cache, so neither side pays for the disk
        size += len(path.read_bytes())
    print(f"landing: {size / 1e6:,.0f} MB in {len(files)} files")

    runs = []
    for n in range(1, args.repeat + 1):
        for folder in (home, out):
            shutil.rmtree(folder, ignore_errors=True)
        out.mkdir(parents=True)
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(home), str(landing)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        duck_seconds, duck_rows = _duckdb_baseline(landing, out)
        rate = result["lines_read"] / result["seconds"]
        ratio = result["seconds"] / duck_seconds
        runs.append((rate, result["rss_mb"], ratio))
        label = f"run {n}/{args.repeat}: " if args.repeat > 1 else ""
        print(
            f"{label}corners ingest: {result['lines_read']:,} lines in "
            f"{result['seconds']:.1f} s = {rate:,.0f} lines/s; peak RSS "
            f"{result['rss_mb']:,.0f} MB (stored {result['stored']:,}, duplicates "
            f"{result['duplicates']:,}, quarantined {result['quarantined']:,})"
        )
        print(f"{label}duckdb read_json -> parquet: {duck_rows:,} rows in {duck_seconds:.1f} s")
        print(f"{label}ratio corners / duckdb: {ratio:.2f}x", flush=True)
    if args.repeat > 1:
        for name, values, fmt in [
            ("lines/s", [r[0] for r in runs], "{:,.0f}"),
            ("peak RSS MB", [r[1] for r in runs], "{:,.0f}"),
            ("ratio", [r[2] for r in runs], "{:.2f}x"),
        ]:
            low, mid, high = min(values), statistics.median(values), max(values)
            print(
                f"{name}: median {fmt.format(mid)} (least {fmt.format(low)}, "
                f"greatest {fmt.format(high)}) over {len(values)} runs"
            )
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
