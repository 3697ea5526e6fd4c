"""Crash safety (SPEC §2): kill -9 anywhere in an ingest, re-run, and get the same store.

Each crash runs the real `corners ingest` in a subprocess that SIGKILLs itself at a named
point (`CORNERS_CRASH_AT`): before, between and after every staged write, the seal, every
table commit and the clean-up. A few more kills come from outside at random moments.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from fitmodel.config import CornersConfig
from fitmodel.events import STREAMS
from pipelines.ingest import CRASH_ENV, STEP_ORDER, check_accounting, ingest
from pipelines.store import Home, exists
from tests.helpers import (
    ROOT,
    communication,
    escalation_opened,
    escalation_resolved,
    meeting,
    registry_csv,
    survey,
    write_lines,
    write_registry,
)

POINTS = [
    "plan",
    *(f"stage:{step}" for step in STEP_ORDER),
    "stage:sealing",
    "stage:sealed",
    *(f"apply:{step}:{when}" for step in STEP_ORDER for when in ("before", "after")),
    "cleanup:unsealed",
    "cleanup:done",
]
VOLATILE = ["ingested_at", "ingest_batch", "loaded_at"]


def tables(home: Home) -> dict[str, str]:
    named = {f"events/{s}": str(home.events(s)) for s in STREAMS}
    named |= {"quarantine": str(home.quarantine), "registry": str(home.registry)}
    named["ingest_log"] = str(home.ingest_log)
    return named


def snapshot(home: Home) -> dict[str, pl.DataFrame]:
    """Every table's content, minus what legitimately differs between runs (times, batch ids)."""
    out = {}
    for name, path in tables(home).items():
        if not exists(home.root / path):
            out[name] = pl.DataFrame()
            continue
        frame = pl.read_delta(path)
        frame = frame.drop([c for c in VOLATILE if c in frame.columns])
        out[name] = frame.sort(frame.columns)
    return out


def counts(home: Home) -> dict[str, int]:
    return {
        n: (pl.read_delta(p).height if exists(home.root / p) else 0)
        for n, p in tables(home).items()
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A home with one ingest done (leaving an unknown-partnership line in quarantine) and a
    second landing delivery that touches every table: new registry, all streams, quarantine."""
    base = tmp_path_factory.mktemp("crash")
    landing = base / "landing"
    write_registry(landing)
    write_lines(landing / "meetings" / "w1.jsonl", [meeting("m1"), meeting("m2", pid="P3")])
    home = Home(base / "base")
    ingest(home, landing, CornersConfig())

    (landing / "partnerships.csv").write_text(
        registry_csv([("P1", "2024-01-01", ""), ("P2", "2024-01-01", ""), ("P3", "2024-01-01", "")])
    )
    write_lines(landing / "meetings" / "w2.jsonl", [meeting("m3"), meeting("m1"), "{bad"])
    write_lines(
        landing / "escalations" / "w2.jsonl",
        [escalation_opened("x1", "E1"), escalation_resolved("x2", "E1"), meeting("m9")],
    )
    write_lines(landing / "communications" / "w2.jsonl", [communication("c1"), communication("c2")])
    write_lines(landing / "surveys" / "w2.jsonl", [survey("s1"), survey("s2", pid="P4")])

    reference = Home(base / "reference")
    shutil.copytree(home.root, reference.root)
    ingest(reference, landing, CornersConfig())
    return base, landing, home, reference


def run_ingest(
    home: Home, landing, crash_at: str | None = None, config: str | None = None
) -> subprocess.Popen:
    env = dict(os.environ)
    if crash_at:
        env[CRASH_ENV] = crash_at
    if config:
        env["CORNERS_CONFIG"] = config
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "ingest",
            "--quiet",
            "--home",
            str(home.root),
            "--landing",
            str(landing),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def assert_recovers(scenario, home: Home, config: CornersConfig | None = None) -> None:
    _, landing, base, reference = scenario
    if config is None:
        before, final = counts(base), counts(reference)
        # No reader sees a half-written table: each table holds its old or its new version.
        for name, n in counts(home).items():
            assert n in (before[name], final[name]), f"{name} half-written: {n} rows"
    ingest(home, landing, config or CornersConfig())
    got, want = snapshot(home), snapshot(reference)
    for name in want:
        assert got[name].equals(want[name]), f"{name} differs after recovery"
    check_accounting(home)
    assert not any(home.staging.glob("*")) if home.staging.exists() else True


def test_there_are_at_least_twenty_crash_points():
    assert len(POINTS) >= 20


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_a_named_point_then_rerun(scenario, tmp_path, point):
    _, landing, base, _ = scenario
    home = Home(tmp_path / "home")
    shutil.copytree(base.root, home.root)
    proc = run_ingest(home, landing, crash_at=point)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"never reached {point}: {err.decode()}"
    assert_recovers(scenario, home)


@pytest.mark.parametrize("seed", range(4))
def test_kill_at_a_random_moment_then_rerun(scenario, tmp_path, seed):
    _, landing, base, _ = scenario
    home = Home(tmp_path / "home")
    shutil.copytree(base.root, home.root)
    proc = run_ingest(home, landing)
    time.sleep(random.Random(seed).uniform(1.0, 3.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert_recovers(scenario, home)


# One batch per landing file: batch 1 is the registry, the retried meeting and communications,
# 2 escalations, 3 meetings, 4 surveys. While batch k commits, batch k + 1 is validated.
LATER_POINTS = [
    ("stage:events:escalations", 2),
    ("stage:sealed#2", 2),
    ("apply:quarantine:after#2", 2),
    ("apply:events:meetings:before#2", 3),
    ("apply:ingest_log:before#3", 3),
    ("cleanup:unsealed#3", 3),
    ("stage:sealing#4", 4),
    ("cleanup:done#4", 4),
]


def batches_logged(home: Home) -> int:
    return pl.read_delta(str(home.ingest_log))["ingest_batch"].n_unique()


@pytest.mark.parametrize(("point", "batch"), LATER_POINTS)
def test_kill_in_a_later_batch_then_rerun(scenario, tmp_path, point, batch):
    """With a batch per file, a kill in batch k leaves the batches before it committed, k
    sealed or discarded, and k + 1 validated but never staged; the re-run (in batches too)
    ends equal to the one-batch reference."""
    _, landing, base, _ = scenario
    home = Home(tmp_path / "home")
    shutil.copytree(base.root, home.root)
    config_file = tmp_path / "corners.yaml"
    config_file.write_text("ingest:\n  batch_mb: 0.000001\n")
    proc = run_ingest(home, landing, crash_at=point, config=str(config_file))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"never reached {point}: {err.decode()}"
    assert batches_logged(home) - batches_logged(base) >= batch - 1
    assert_recovers(scenario, home, CornersConfig.model_validate({"ingest": {"batch_mb": 1e-6}}))
