"""`scale.shards`: refreshes of four shards publish exactly what one shard publishes, in one
commit each, through late data; a change of the number of shards rebuilds."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from store.home import Home
from store.sample import write_sample
from store.shards import shard_path
from tests.helpers import corners, survey, write_lines
from tests.store.test_shards import documented

AS_OF = date(2025, 6, 30)
TABLES = {"fit_health": ["partnership_id", "as_of"], "alerts": ["alert_id"],
          "renewal_gates": ["partnership_id", "gate_on"], "validation": ["horizon_days"]}  # fmt: skip


def _published(home: Home) -> dict[str, pl.DataFrame]:
    return {
        t: pl.read_delta(str(home.path(t))).drop("computed_at", strict=False).sort(keys)
        for t, keys in TABLES.items()
    }


def _refresh(home: Home, landing, as_of: date, config=None):
    before = ("--config", str(config)) if config else ()
    return corners(*before, "refresh", "--home", str(home.root), "--landing", str(landing),
                   "--as-of", as_of.isoformat(), "--quiet", check=True)  # fmt: skip


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    landing = root / "landing"
    write_sample(landing, partnerships=14, days=240, seed=8, bad_rate=0.01, end=AS_OF)
    four = root / "four.yaml"
    four.write_text("scale: {shards: 4}\n")
    one, sharded = Home(root / "one"), Home(root / "four")
    for day in (AS_OF - timedelta(days=1), AS_OF):
        if day == AS_OF:  # late surveys restate days already published
            write_lines(
                landing / "surveys" / "late" / "late.jsonl",
                [survey(f"late-{p}", pid=p, at=f"{AS_OF - timedelta(days=20)}T08:00:00Z",
                        scores=(2, 2, 2, 2)) for p in ("P00001", "P00004", "P00009")],
            )  # fmt: skip
        _refresh(one, landing, day)
        _refresh(sharded, landing, day, four)
    return one, sharded, landing, root


def test_four_shards_publish_exactly_what_one_publishes(homes):
    one, sharded, _, _ = homes
    a, b = _published(one), _published(sharded)
    for table in TABLES:
        assert a[table].equals(b[table]), table
    # The late surveys restated published days in both, the same way.
    restated = pl.read_delta(str(sharded.path("restatements")))
    assert (
        restated.height > 0
        and restated.height == pl.read_delta(str(one.path("restatements"))).height
    )
    # Each shard kept its own candidate, holding the partnerships the documented hash gives it.
    for k in range(4):
        ids = pl.read_delta(str(shard_path(sharded, k)))["partnership_id"].unique().to_list()
        assert all(documented(p, 4) == k for p in ids), k
    # The publication linked the shards' day files in: the same files, not rewritten copies.
    published = {
        Path(u).stat().st_ino for u in DeltaTable(str(sharded.path("fit_health"))).file_uris()
    }
    candidates = [
        Path(u) for k in range(4) for u in DeltaTable(str(shard_path(sharded, k))).file_uris()
    ]
    assert candidates and all(f.stat().st_ino in published for f in candidates)
    candidate_rows = sum(pl.read_delta(str(shard_path(sharded, k))).height for k in range(4))
    last = pl.read_delta(str(one.path("fit_health_candidate"))).height
    assert candidate_rows == last > 0


def test_each_refresh_of_the_shards_is_one_commit(homes):
    one, sharded, _, _ = homes
    history = DeltaTable(str(sharded.path("fit_health"))).history()
    assert len(history) == len(DeltaTable(str(one.path("fit_health"))).history()) == 2
    log = corners("query", "SELECT mode, rows FROM refresh_log ORDER BY published_version", "--home",
                  str(sharded.root), "--format", "csv", check=True).stdout  # fmt: skip
    modes = [line.split(",")[0] for line in log.splitlines()[1:]]
    assert modes == ["rebuild", "incremental"]


def test_changing_the_number_of_shards_rebuilds_on_the_multiprocess_executor(homes, tmp_path):
    """The command line runs the steps where `scale.executor` says: with `multiprocess`,
    each shard in a process of its own, none of them the command's."""
    import shutil

    import dagster as dg

    from pipelines.instance import instance

    _, sharded, landing, _ = homes
    copy = Home(tmp_path / "copy")
    shutil.copytree(sharded.root, copy.root)
    two = tmp_path / "two.yaml"
    two.write_text("scale: {shards: 2, executor: multiprocess, max_concurrent: 2}\n")
    done = _refresh(copy, landing, AS_OF, two)
    assert "(rebuild" in done.stdout
    assert "DEBUG" not in done.stderr  # --quiet: no step process prints Dagster's lines
    assert _published(copy)["fit_health"].equals(_published(sharded)["fit_health"])
    assert _published(copy)["alerts"].equals(_published(sharded)["alerts"])
    assert not (copy.root / "candidate" / "alerts_shards").exists()  # written, then cleared
    with instance(copy) as dagster:
        run = dagster.get_runs(limit=1)[0]
        starts = {
            e.step_key: e.dagster_event.pid
            for e in dagster.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        }
        written = dagster.get_latest_materialization_event(dg.AssetKey("alerts"))
        worker = dg.DagsterEventType.STEP_WORKER_STARTED
        workers = {e.step_key for e in dagster.all_logs(run.run_id, of_type=worker)}
    # Each shard's episodes were projected by its own step, side by side; the table is theirs.
    assert written.asset_materialization.metadata["shards_projected_by_their_steps"].value == 2
    alert_steps = [starts[f"alerts_shard_{k}"] for k in (0, 1)]
    assert len(set(alert_steps)) == 2 and starts["alerts"] not in alert_steps
    assert run.job_name == "refresh_job" and run.status == dg.DagsterRunStatus.SUCCESS
    assert set(workers) == set(starts)  # stored for the UI, though not printed
    shards = [starts[f"fit_health_candidate_shard_{k}"] for k in (0, 1)]
    assert len(set(shards)) == 2
    assert not set(shards) & {int(run.tags["corners/pid"]), starts["fit_health"]}


def test_the_step_processes_fork_from_a_server_that_runs_no_thread():
    """The multiprocess executor forks each step from a server that imported
    `pipelines.worker`: that import must start no thread (a fork keeps a thread's locks, not
    the thread) and load no frame library, whose own threads would deadlock a step."""
    import subprocess
    import sys

    import dagster as dg

    from assets.resources import CornersResource
    from fitmodel.config import parse_config
    from pipelines.definitions import build_definitions
    from tests.helpers import ROOT

    config = parse_config({"scale": {"shards": 2, "executor": "multiprocess"}})
    job = build_definitions(config, CornersResource(home="h")).resolve_job_def("refresh_job")
    execution = dg.validate_run_config(job, {})["execution"]
    start = execution["multiprocess"]["start_method"]
    assert start == {"forkserver": {"preload_modules": ["pipelines.worker"]}}
    probe = (
        "import os, sys, pipelines.worker\n"
        "print(len(os.listdir('/proc/self/task')), sorted(m for m in ('polars', 'pyarrow', "
        "'deltalake', 'duckdb', 'great_expectations', 'numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split(maxsplit=1)  # fmt: skip
    assert out == ["1", "[]\n"]
