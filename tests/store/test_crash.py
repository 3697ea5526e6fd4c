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
from datetime import date

import polars as pl
import pytest

from fitmodel.config import CornersConfig
from fitmodel.domain import STREAMS
from store.catalog import CATALOG
from store.crash import CRASH_ENV
from store.delta import exists
from store.home import Home
from store.ingest import check_accounting, ingest
from store.sample import write_sample
from store.staging import STEP_ORDER
from tests.helpers import (
    ROOT,
    communication,
    diagnostic,
    escalation_opened,
    escalation_resolved,
    meeting,
    registry_csv,
    renewal_decision,
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


INGESTED = [*STREAMS, "quarantine", "registry", "ingest_log"]
"""The catalog tables an ingest writes."""


def tables(home: Home) -> dict[str, str]:
    return {name: str(CATALOG[name].location(home.root)) for name in INGESTED}


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
    write_lines(
        landing / "governance" / "w2.jsonl",
        [renewal_decision("g1", "2024-07-01"), diagnostic("d1", scores=(9, 4, 8, 7))],
    )

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


def _mid_work(home: Home, scenario) -> bool:
    """Whether an ingest stopped with some of its work done and some not."""
    _, _, base, reference = scenario
    staged = home.staging.exists() and any(home.staging.iterdir())
    now = counts(home)
    return staged or (now != counts(base) and now != counts(reference))


SMALL_BATCHES = "ingest:\n  batch_mb: 0.05\n"


@pytest.fixture(scope="module")
def long_scenario(tmp_path_factory):
    """A landing of many weekly files ingested in many small batches: seconds of commits, so
    a kill at a random moment can land among them."""
    base = tmp_path_factory.mktemp("long")
    landing = base / "landing"
    write_sample(landing, partnerships=12, days=300, seed=5, bad_rate=0.02, end=date(2025, 6, 30))
    home = Home(base / "base")
    home.root.mkdir()
    config = base / "corners.yaml"
    config.write_text(SMALL_BATCHES)
    reference = Home(base / "reference")
    ingest(reference, landing, CornersConfig.model_validate({"ingest": {"batch_mb": 0.05}}))
    return base, landing, home, reference, config


@pytest.mark.parametrize("seed", range(4))
def test_kill_at_a_random_moment_then_rerun(long_scenario, tmp_path, seed):
    """A kill from outside at a random moment that lands mid-work: a moment at which the
    ingest had not started writing, or had finished, is retried with a later or an earlier
    one, until one lands."""
    *scenario, config = long_scenario
    _, landing, base, _ = scenario
    rng = random.Random(seed)
    low, high = 0.5, 8.0
    for attempt in range(12):
        home = Home(tmp_path / f"home-{attempt}")
        shutil.copytree(base.root, home.root)
        proc = run_ingest(home, landing, config=str(config))
        moment = rng.uniform(low, high)
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if proc.returncode != -signal.SIGKILL or (
            not _mid_work(home, scenario) and counts(home) != counts(base)
        ):
            high = moment  # it had finished: kill earlier
        elif not _mid_work(home, scenario):
            low = moment  # it had written nothing yet: kill later
        else:
            break
    else:
        pytest.fail(f"no kill landed mid-work between {low:.2f} s and {high:.2f} s")
    assert_recovers(scenario, home, CornersConfig.model_validate({"ingest": {"batch_mb": 0.05}}))


# One batch per landing file: batch 1 is the registry, the retried meeting and communications,
# 2 escalations, 3 governance, 4 meetings, 5 surveys. While batch k commits, batch k + 1 is
# validated.
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
