"""The benchmark scripts still run, on small inputs (their figures are not checked here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_ingest_benchmark_times_both_sides_and_sums_up_repeats(tmp_path):
    # So small a sample lacks some streams, which DuckDB's read_json refused as an empty glob.
    out = run(
        "benchmarks/ingest.py", "--partnerships", "4", "--days", "20", "--repeat", "2",
        "--workdir", str(tmp_path),
    )  # fmt: skip
    runs = re.findall(
        r"run \d/2: corners ingest: ([\d,]+) lines .* \(stored ([\d,]+), duplicates ([\d,]+), "
        r"quarantined ([\d,]+)\)",
        out,
    )
    assert len(runs) == 2, out
    assert runs[0] == runs[1]  # each run starts from an empty home
    read, stored, duplicates, quarantined = (int(n.replace(",", "")) for n in runs[0])
    assert read > 0 and read == stored + duplicates + quarantined
    assert len(re.findall(r"run \d/2: duckdb read_json -> parquet: [\d,]+ rows", out)) == 2
    for figure in ("lines/s", "peak RSS MB", "ratio"):
        assert re.search(rf"^{figure}: median .* over 2 runs$", out, re.M), out


def test_the_fitmodel_benchmark_finds_polars_and_duckdb_agree(tmp_path):
    out = run(
        "benchmarks/fitmodel.py", "--check", "--partnerships", "12", "--days", "120",
        "--workdir", str(tmp_path),
    )  # fmt: skip
    assert re.search(r"polars and DuckDB agree on all [\d,]+ rows", out), out


def test_the_refresh_benchmark_times_a_nightly_refresh_step_by_step(tmp_path):
    run(
        "benchmarks/fitmodel.py", "--polars-only", "--partnerships", "12", "--days", "120",
        "--workdir", str(tmp_path),
    )  # fmt: skip
    work = tmp_path / "12x120-s5-a1.5"
    out = run("benchmarks/refresh.py", "--work", str(work), "--home", str(tmp_path / "home"))
    assert re.search(r"command line: [\d.]+ s wall", out), out
    assert "published fit_health through 2026-06-30 (incremental" in out, out
    for step in ("landing_ingest", "fit_health_candidate", "alert_notifications"):
        assert re.search(rf"^  {step}\s+[\d.]+ s$", out, re.M), out


def test_the_fitmodel_benchmark_times_a_backtest_and_shards(tmp_path):
    small = ("--partnerships", "12", "--days", "120", "--workdir", str(tmp_path))
    out = run("benchmarks/fitmodel.py", "--backtest", *small, "--home", str(tmp_path / "h"))
    assert re.search(r"corners rebuild: [\d.]+ s, peak RSS [\d,]+ MB", out), out
    assert re.search(r"corners backtest: [\d.]+ s, .*x the rebuild's time", out), out
    out = run("benchmarks/fitmodel.py", "--shards", "1,3", *small, "--home", str(tmp_path / "h"))
    for count in (1, 3):
        assert re.search(rf"^{count} shard\(s\): .* largest process [\d,]+ MB$", out, re.M), out
    home = ("--home", str(tmp_path / "h"))
    out = run("benchmarks/fitmodel.py", "--shards-command", "2", *small, *home)
    assert re.search(r"^corners rebuild, 2 shard\(s\) \(multiprocess\): [\d.]+ s; largest "
                     r"process [\d,]+ MB", out, re.M), out  # fmt: skip
    # Each step, with its own process's peak.
    step = r"^    fit_health_candidate_shard_1 +from +[\d.]+ s, +[\d.]+ s, peak [\d,]+ MB$"
    assert re.search(step, out, re.M), out
