"""The real `corners` command line, end to end."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import polars as pl

from tests.helpers import ROOT, corners

LOADED = """
import atexit, json, sys
from pipelines.cli.app import main
atexit.register(lambda: print(json.dumps(sorted(m for m in sys.modules if "." not in m))))
main()
"""
"""Runs the command line given after it, then prints the top-level modules it loaded."""


def test_every_command_has_help_with_an_example():
    for command in (
        "sample",
        "ingest",
        "refresh",
        "rebuild",
        "query",
        "alerts",
        "explain",
        "report",
        "demo",
        "validate",
        "ui",
    ):
        result = corners(command, "--help", check=True)
        assert "examples:" in result.stdout and f"corners {command}" in result.stdout


def test_demo_refreshes_sample_data_and_summarises_it(tmp_path):
    home = tmp_path / "home"
    result = corners("demo", "--home", str(home), "--quiet", check=True)
    assert "partnerships per band (latest day):" in result.stdout
    assert "quarantined lines by reason:" in result.stdout
    assert f"UI:     corners ui --home {home}" in result.stdout
    assert "open alerts: " in result.stdout and "notifications: " in result.stdout
    # The sample's decisions follow each partnership's latent health: the score predicts them.
    readings = [line for line in result.stdout.splitlines() if "scored lower than" in line]
    assert len(readings) == 3
    for line in readings:
        share = int(line.split(" in ")[1].split("%")[0])
        assert 55 <= share < 100, line
    report = result.stdout.split("report: ")[1].splitlines()[0]
    assert report.startswith(str(home / "reports")) and Path(report).stat().st_size > 1_000_000
    why = result.stdout.split("why:    ")[1].splitlines()[0].split()
    assert why[0] == "corners"
    assert corners(*why[1:], check=True).stdout.count("change by component") == 1
    query = result.stdout.split("query:  ")[1].splitlines()[0]
    assert query.startswith(f"corners query --home {home} ")
    read = int(result.stdout.split("ingested: ")[1].split(" lines")[0].replace(",", ""))
    stored = pl.concat(
        [pl.read_delta(str(home / "events" / s)) for s in ("meetings", "communications")],
        how="diagonal",
    )
    assert read > 10_000 and stored.height > 5_000
    again = corners("ingest", "--home", str(home), "--quiet", check=True)
    assert "0 lines read" in again.stdout  # the landing folder was already ingested
    bands = pl.read_delta(str(home / "published" / "fit_health"))["band"].unique().to_list()
    assert set(bands) <= {"healthy", "watch", "at_risk", "insufficient_data"} and len(bands) >= 3
    answer = corners(*shlex.split(query)[1:], "--format", "csv", check=True)
    assert answer.stdout.startswith("band,")
    # Shown as a table, the same answer loads no frame library: it starts as DuckDB does.
    shown = subprocess.run(
        [sys.executable, "-c", LOADED, *shlex.split(query)[1:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.splitlines()
    csv_rows = answer.stdout.splitlines()[1:]
    assert all(row.split(",")[0] in "".join(shown[:-1]) for row in csv_rows)
    assert not {"polars", "pyarrow", "numpy", "dagster"} & set(json.loads(shown[-1]))
    # Written as csv, it takes the rows from DuckDB without pyarrow.
    written = subprocess.run(
        [sys.executable, "-c", LOADED, *shlex.split(query)[1:], "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.splitlines()
    assert written[:-1] == answer.stdout.splitlines()
    assert not {"pyarrow", "dagster"} & set(json.loads(written[-1]))


def test_sample_rejects_a_bad_rate(tmp_path):
    result = corners("sample", str(tmp_path / "x"), "--bad-rate", "2")
    assert result.returncode == 2 and "--bad-rate" in result.stderr and "0<=x<=1" in result.stderr
    assert not (tmp_path / "x").exists()


def test_the_common_options_go_before_or_after_the_command(tmp_path):
    from store.sample import write_sample

    landing = tmp_path / "landing"
    write_sample(landing, partnerships=2, days=20, seed=1, bad_rate=0.0)
    before = corners(
        "--home", str(tmp_path / "a"), "--landing", str(landing), "--quiet", "ingest", check=True
    )
    assert (tmp_path / "a" / "events").is_dir() and "lines read" in before.stdout
    # Given on both sides, the one after the command wins.
    corners("--home", str(tmp_path / "a"), "ingest", "--home", str(tmp_path / "b"),
            "--landing", str(landing), "--quiet", check=True)  # fmt: skip
    assert (tmp_path / "b" / "events").is_dir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("ingest:\n  batch_mb: 0\n")
    refused = corners("--config", str(bad), "ingest", "--home", str(tmp_path / "c"))
    assert refused.returncode == 2 and "ingest.batch_mb" in refused.stderr
    assert not (tmp_path / "c").exists()
