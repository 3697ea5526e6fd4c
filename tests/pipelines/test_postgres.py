"""The Dagster instance on PostgreSQL: a real server on 127.0.0.1, the command line and the
real daemon and webserver writing their runs to it, the password in no file."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.instance import INSTANCE_YAML, InstanceError, ensure_instance_yaml, instance_yaml
from store.home import Home
from store.sample import write_sample
from tests.dagster_processes import Dagster
from tests.helpers import corners
from tests.postgres import Postgres


def test_the_instance_file_names_the_variables_never_their_values(tmp_path):
    env = {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_USERNAME": "u",
           "DAGSTER_PG_PASSWORD": "pa55: {env: X}\nstorage: evil", "DAGSTER_PG_DB": "d"}  # fmt: skip
    text = instance_yaml(env)
    assert "{env: DAGSTER_PG_PASSWORD}" in text and "{env: DAGSTER_PG_HOST}" in text
    assert "pa55" not in text and "db.internal" not in text and "evil" not in text
    assert "max_concurrent_runs: 1" in text  # the queue of one refresh stays
    assert instance_yaml({}) == INSTANCE_YAML
    with pytest.raises(InstanceError, match="DAGSTER_PG_PASSWORD, DAGSTER_PG_DB"):
        instance_yaml({"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USERNAME": "u"})
    with pytest.raises(InstanceError, match="port number"):
        instance_yaml(env | {"DAGSTER_PG_PORT": "54x"})
    # A file corners wrote follows the environment; a deployment's own file stands.
    folder = tmp_path / "dagster"
    ensure_instance_yaml(folder, {})
    ensure_instance_yaml(folder, env)
    assert (folder / "dagster.yaml").read_text() == text
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_instance_yaml(folder, {})
    assert (folder / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_refreshes_from_the_command_line_and_sharded_under_the_daemon_run_on_postgresql(
    tmp_path,
):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    home = Home(tmp_path / "home")
    write_sample(home.landing, partnerships=5, days=120, seed=4, end=yesterday)
    with Postgres() as pg:
        env = dict(os.environ, **pg.env)
        done = corners("refresh", "--home", str(home.root), "--quiet", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert pg.sql("SELECT count(*) FROM runs") == "1"
        assert pg.sql("SELECT pipeline_name FROM runs") == "refresh_job"
        # The instance keeps nothing of its own on disk but its file, which has no secret.
        dagster_files = {p.name for p in home.dagster.rglob("*") if p.is_file()}
        assert "runs.db" not in dagster_files
        assert pg.password not in (home.dagster / "dagster.yaml").read_text()

        # Under the daemon: two shards on the multiprocess executor, side by side.
        config = tmp_path / "corners.yaml"
        config.write_text("scale: {shards: 2, executor: multiprocess, max_concurrent: 2}\n")
        with Dagster(home.root, config, logs=tmp_path, extra_env=pg.env) as dagster:
            run_id = dagster.launch("refresh_job", {})
            assert dagster.wait_for_run(run_id, 600) == "SUCCESS", tmp_path / "dagster-daemon.log"
            steps = {s["stepKey"]: s for s in dagster.steps(run_id)}
            first, second = (steps[f"fit_health_candidate_shard_{k}"] for k in (0, 1))
            assert first["status"] == second["status"] == "SUCCESS"
            # Each shard ran in a process of its own, started by the multiprocess executor.
            pids = {}
            for line in pg.sql(
                "SELECT step_key, event FROM event_logs WHERE dagster_event_type = 'STEP_START' "
                f"AND run_id = '{run_id}'"
            ).splitlines():
                step, event = line.split("|", 1)
                pids[step] = json.loads(event)["dagster_event"]["pid"]
            shards = [pids[f"fit_health_candidate_shard_{k}"] for k in (0, 1)]
            assert len(set(shards)) == 2 and not set(shards) & {pids["fit_health"]}
            statuses = dict(
                line.split("|") for line in pg.sql("SELECT run_id, status FROM runs").splitlines()
            )
            assert statuses[run_id] == "SUCCESS" and len(statuses) == 2
            # The daemon's heartbeats go to the same database.
            assert int(pg.sql("SELECT count(*) FROM daemon_heartbeats")) >= 1
        for log in tmp_path.glob("dagster-*.log"):
            assert pg.password not in log.read_text(errors="replace"), log
