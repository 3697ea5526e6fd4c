"""Dagster definitions, schedule and sensor, write–audit–publish, and the refresh CLI."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from assets.resources import CornersResource
from checks.ge import GreatExpectations
from fitmodel.config import CornersConfig, parse_config
from pipelines.definitions import (
    CHECKS,
    build_definitions,
    build_schedule,
    build_sensor,
)
from pipelines.run import instance, run_refresh
from store import publish as rf
from store.home import Home
from store.ingest import ingest
from store.sample import write_sample
from tests.dagster_processes import Dagster
from tests.helpers import ROOT, communication, corners, write_lines, write_registry

AS_OF = date(2025, 6, 30)


def refresh(home: Home, landing) -> subprocess.CompletedProcess:
    """`corners refresh` through AS_OF, as the nightly job runs it."""
    return corners(
        "refresh",
        "--home",
        str(home.root),
        "--landing",
        str(landing),
        "--as-of",
        AS_OF.isoformat(),
        "--quiet",
    )


def published(home: Home) -> pl.DataFrame:
    return (
        pl.read_delta(str(home.path("fit_health")))
        .drop("computed_at")
        .sort("partnership_id", "as_of")
    )


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    """A home refreshed once through AS_OF on sample data."""
    root = tmp_path_factory.mktemp("refreshed")
    landing = root / "landing"
    write_sample(landing, partnerships=8, days=200, seed=3, bad_rate=0.01, end=AS_OF)
    home = Home(root / "home")
    result = refresh(home, landing)
    assert result.returncode == 0, result.stderr
    return home, landing, result


def test_the_graph_is_what_we_expect():
    defs = build_definitions(CornersConfig(), CornersResource(home="/tmp/unused"))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert keys == {
        "partnership_registry": "ingest",
        "meeting_events": "ingest",
        "escalation_events": "ingest",
        "communication_events": "ingest",
        "survey_events": "ingest",
        "governance_events": "ingest",
        "quarantine": "ingest",
        "fit_health_candidate": "fit",
        "fit_health": "fit",
        "alerts": "alerts",
        "alert_notifications": "alerts",
        "renewal_gates_candidate": "validation",
        "validation_candidate": "validation",
        "renewal_gates": "validation",
        "validation": "validation",
        "fit_health_report": "report",
    }
    checks = {spec.name: spec.blocking for group in CHECKS for spec in group.check_specs}
    assert {n for n, blocking in checks.items() if blocking} == {
        "alerts_one_open_episode_per_partnership_and_rule",
        "alerts_open_alerts_refer_to_registered_partnerships",
        "fit_health_one_row_per_partnership_day",
        "fit_health_scores_between_0_and_100",
        "fit_health_band_matches_fit_score",
        "fit_health_fit_score_matches_components",
        "fit_health_no_missing_days",
        "fit_health_covers_as_of",
        "fit_health_scores_are_numbers",
        "fit_health_keeps_published_partnerships",
        "renewal_gates_one_row_per_partnership_and_gate",
        "renewal_gates_outcome_matches_the_standing_decisions",
        "validation_counts_add_up",
        "validation_auc_between_0_and_1",
    }
    assert checks["renewal_decisions_for_no_gate"] is False
    assert "meeting_events_unique_event_id" in checks
    assert graph.get(dg.AssetKey("alerts")).parent_keys == {dg.AssetKey("fit_health")}
    assert graph.get(dg.AssetKey("alert_notifications")).parent_keys == {dg.AssetKey("alerts")}
    assert graph.get(dg.AssetKey("fit_health")).parent_keys == {dg.AssetKey("fit_health_candidate")}
    # Each asset's grain and columns: tests/assets/test_columns.py.


def test_the_schedule_refreshes_through_yesterday_at_the_configured_time():
    config = parse_config({"schedule": {"cron": "30 3 * * *", "timezone": "Europe/Paris"}})
    schedule = build_schedule(config)
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.run_config["ops"]["fit_health_candidate"]["config"]["as_of"] == "2026-03-09"
    assert build_schedule(CornersConfig()).cron_schedule == "0 2 * * *"


def test_the_sensor_requests_a_refresh_only_for_files_not_ingested(tmp_path):
    landing_sensor = build_sensor(parse_config({"schedule": {"sensor_interval_seconds": 5}}))
    assert landing_sensor.minimum_interval_seconds == 5
    home, landing = Home(tmp_path / "home"), tmp_path / "landing"
    resource = CornersResource(home=str(home.root), landing=str(landing))
    landing.mkdir()

    def tick(cursor):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"corners": resource}
        )
        return landing_sensor.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        empty = tick(None)
        assert not empty.run_requests and "every file in it is ingested" in empty.skip_message
        write_lines(landing / "communications" / "new.jsonl", [communication("c1")])
        write_registry(landing, ids=("P1",))
        new = tick(empty.cursor)
        assert len(new.run_requests) == 1
        unchanged = tick(new.cursor)
        assert not unchanged.run_requests and "no landing file" in unchanged.skip_message
        # Ingested from the command line, then touched: the fingerprint changed, the files
        # did not, and no refresh is started for nothing.
        ingest(home, landing, CornersConfig())
        (landing / "communications" / "new.jsonl").touch()
        os.utime(landing / "communications" / "new.jsonl", (1, 1))
        touched = tick(unchanged.cursor)
        assert not touched.run_requests and "every file in it is ingested" in touched.skip_message
        # The same content under another name is no new file either; other content is.
        shutil.copy(
            landing / "communications" / "new.jsonl", landing / "communications" / "b.jsonl"
        )
        assert not tick(touched.cursor).run_requests
        write_lines(landing / "communications" / "c.jsonl", [communication("c2")])
        assert len(tick(touched.cursor).run_requests) == 1


def own(refreshed, tmp_path) -> tuple[Home, object]:
    """A private copy of the refreshed home and its landing, for a test that changes them
    (the module's home stays as it was, whatever order tests run in)."""
    home, landing, _ = refreshed
    copy, copied = Home(tmp_path / "home"), tmp_path / "landing"
    shutil.copytree(home.root, copy.root)
    shutil.copytree(landing, copied)
    return copy, copied


def test_refresh_publishes_and_a_second_refresh_changes_nothing(refreshed, tmp_path):
    result = refreshed[2]
    home, landing = own(refreshed, tmp_path)
    assert "published fit_health through 2025-06-30" in result.stdout
    before = published(home)
    version = rf.last_publication(home)[0]
    assert before["as_of"].max() == AS_OF and before.height > 8 * 150
    again = refresh(home, landing)
    assert again.returncode == 0, again.stderr
    assert published(home).equals(before)
    assert rf.last_publication(home)[0] == version  # no new Delta version
    # The CLI's runs are in the home's Dagster instance.
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    assert len(instance.get_runs()) == 2


def test_late_events_change_exactly_the_affected_days_and_match_a_rebuild(refreshed, tmp_path):
    home, landing = own(refreshed, tmp_path)
    before = published(home)
    late_day = AS_OF - timedelta(days=20)
    write_lines(
        landing / "communications" / "late" / "late.jsonl",
        [
            communication(f"late{i}", pid="P00001", at=f"{late_day}T09:00:00Z", initiated_by="b")
            for i in range(12)
        ],
    )
    result = refresh(home, landing)
    assert result.returncode == 0, result.stderr
    after = published(home)
    alerts_after = pl.read_delta(str(home.path("alerts")))
    assert last_commit(home.path("alerts"))["corners_mode"] == "incremental"
    assert after.filter(pl.col("as_of") < late_day).equals(
        before.filter(pl.col("as_of") < late_day)
    )
    changed = after.join(before, on=["partnership_id", "as_of"], suffix="_old").filter(
        pl.col("comms_90d") != pl.col("comms_90d_old")
    )
    assert changed["partnership_id"].unique().to_list() == ["P00001"]
    assert changed["as_of"].min() == late_day and changed["as_of"].max() == AS_OF
    # The restated days are recorded, with the fit score before and after.
    restated = pl.read_delta(str(home.path("restatements")))
    assert restated["partnership_id"].unique().to_list() == ["P00001"]
    assert set(changed["as_of"]) <= set(restated["as_of"])
    assert all("comms_90d" in c for c in restated["changed_columns"])
    scores = restated.join(
        after.select("partnership_id", "as_of", "fit_score"), on=["partnership_id", "as_of"]
    )
    assert scores["fit_score_after"].equals(scores["fit_score"], check_names=False)
    assert restated["refresh_as_of"].unique().to_list() == [AS_OF]
    assert rf.last_publication(home)[1].start == late_day
    rebuilt = corners("rebuild", "--home", str(home.root), "--landing", str(landing), "--quiet")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rf.last_publication(home)[1].mode == "rebuild"
    assert published(home).equals(after)
    assert last_commit(home.path("alerts"))["corners_mode"] == "rebuild"
    assert pl.read_delta(str(home.path("alerts"))).equals(alerts_after)


def last_commit(path) -> dict:
    from deltalake import DeltaTable

    return DeltaTable(str(path)).history(1)[0]


def test_a_failing_blocking_check_prevents_publication(refreshed, tmp_path, monkeypatch):
    home, landing = own(refreshed, tmp_path)
    good = published(home)
    version = rf.last_publication(home)[0]
    write_lines(
        landing / "communications" / "more" / "x.jsonl",
        [communication("defect1", pid="P00002", at=f"{AS_OF}T08:00:00Z")],
    )
    real = rf.compute_candidate

    def defective(*args, **kwargs):
        rows = real(*args, **kwargs)
        return rows.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(150.0)
            .otherwise(pl.col("fit_score"))
            .alias("fit_score")
        )

    monkeypatch.setattr(rf, "compute_candidate", defective)
    outcome = run_refresh(CornersResource(home=str(home.root), landing=str(landing)), as_of=AS_OF)
    assert not outcome.published and outcome.blocking_failed
    text = "\n".join(outcome.failed_checks)
    assert "fit_health_scores_between_0_and_100" in text
    assert "fit_health_band_matches_fit_score" in text or "fit_health_fit_score_matches" in text
    assert "150" in text  # a sample failing value or row is named
    assert published(home).equals(good)
    assert rf.last_publication(home)[0] == version


def test_alerts_are_projected_after_publication_and_listed(refreshed):
    home, _, _ = refreshed
    table = pl.read_delta(str(home.path("alerts")))
    assert table.height > 0 and table["alert_id"].n_unique() == table.height
    assert set(table["rule"]) <= set(CornersConfig().alerts.rules)
    listed = corners("alerts", "--home", str(home.root), "--open")
    assert listed.returncode == 0, listed.stderr
    open_now = table.filter(pl.col("status") == "open").sort(
        "opened_on", "partnership_id", descending=[True, False]
    )
    assert open_now.height > 0
    assert f"{open_now.height} alert(s)" in listed.stdout
    assert open_now["alert_id"][0] in listed.stdout  # newest first
    assert "┆ resolved ┆" not in listed.stdout  # no resolved episode is listed


def test_query_prints_a_table_and_writes_files(refreshed, tmp_path):
    home, _, _ = refreshed
    result = corners(
        "query",
        "--home",
        str(home.root),
        "SELECT band, count(*) AS n FROM fit_health GROUP BY band ORDER BY band",
    )
    assert result.returncode == 0, result.stderr
    assert "band" in result.stdout and "healthy" in result.stdout
    out = tmp_path / "q.csv"
    result = corners(
        "query",
        "--home",
        str(home.root),
        "SELECT count(*) AS n FROM quarantine",
        "--format",
        "csv",
        "--output",
        str(out),
    )
    assert result.returncode == 0 and int(out.read_text().splitlines()[1]) > 0
    bad = corners("query", "--home", str(home.root), "SELECT nope FROM fit_health")
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_dagster_definitions_validate(tmp_path):
    env = dict(os.environ, CORNERS_HOME=str(tmp_path))
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(bin_dir, "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_webserver_lists_assets_checks_and_columns(tmp_path):
    with Dagster(tmp_path / "home", daemon=False) as dagster:
        data = dagster.query(
            "{ assetNodes { assetKey { path } metadataEntries { label } "
            "assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"
        )
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert {"fit_health", "fit_health_candidate", "meeting_events", "quarantine"} <= set(nodes)
    checks = {
        c["name"]: c["blocking"]
        for c in nodes["fit_health_candidate"]["assetChecksOrError"]["checks"]
    }
    assert checks["fit_health_no_missing_days"] is True
    labels = {e["label"] for e in nodes["fit_health"]["metadataEntries"]}
    assert "dagster/column_schema" in labels


def test_an_upgrade_or_a_model_change_plans_a_rebuild(tmp_path):
    from deltalake import CommitProperties, write_deltalake

    from fitmodel.planning import Plan, model_hash
    from fitmodel.score import fit_health_schema
    from store.catalog import REGISTRY_SCHEMA

    home = Home(tmp_path / "home")
    registry = (
        pl.DataFrame({"partnership_id": ["P1"], "file_hash": ["h"]})
        .with_columns(
            [
                pl.lit(None).cast(t).alias(c)
                for c, t in REGISTRY_SCHEMA.items()
                if c not in ("partnership_id", "file_hash")
            ]
        )
        .select(list(REGISTRY_SCHEMA))
    )
    write_deltalake(str(home.registry), registry.cast(dict(REGISTRY_SCHEMA)).to_arrow())
    config = CornersConfig()
    plan = Plan(AS_OF, None, "rebuild", None, "h", model_hash(config.model))
    current = pl.DataFrame(schema={**fit_health_schema(), "computed_at": pl.Datetime("us", "UTC")})
    meta = CommitProperties(custom_metadata={rf.PLAN_KEY: plan.to_json()})
    write_deltalake(str(home.path("fit_health")), current.to_arrow(), commit_properties=meta)
    assert rf.plan_refresh(home, AS_OF, config).mode == "incremental"
    # Another model configuration: every day is recomputed, not only the new ones.
    heavier = parse_config(
        {"model": {"components": {"survey": {"bad": 1, "good": 10, "weight": 1}}}}
    )
    assert rf.plan_refresh(home, AS_OF, heavier).mode == "rebuild"
    older = current.drop("data_confidence")
    write_deltalake(
        str(home.path("fit_health")),
        older.to_arrow(),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=meta,
    )
    assert rf.plan_refresh(home, AS_OF, config).mode == "rebuild"


def test_explain_prints_the_change_by_component_and_the_events_behind_it(refreshed):
    home, _, _ = refreshed
    latest = published(home).filter(pl.col("as_of") == AS_OF)
    worst = (
        latest.filter(pl.col("score_change_30d").is_not_null())
        .sort("score_change_30d")
        .row(0, named=True)
    )
    out = corners("explain", worst["partnership_id"], "--home", str(home.root), check=True).stdout
    assert out.startswith(f"{worst['partnership_id']} {worst['name']}")
    assert f"(change {worst['score_change_30d']:+.1f})" in out
    assert f"data confidence {worst['data_confidence']}" in out
    driver = worst["top_negative_driver"]
    if driver:
        assert f"\n{driver}: " in out  # its evidence section
    missing = corners("explain", "P99999", "--home", str(home.root))
    assert (
        missing.returncode == 2 and "no fit-health rows for partnership 'P99999'" in missing.stderr
    )


def test_the_event_id_check_catches_an_id_stored_twice(tmp_path):
    from checks.events import event_checks
    from store.delta import append

    landing = tmp_path / "landing"
    write_sample(landing, partnerships=2, days=40, seed=1, end=AS_OF)
    home = Home(tmp_path / "home")
    corners("ingest", "--home", str(home.root), "--landing", str(landing), "--quiet", check=True)
    resource = CornersResource(home=str(home.root), landing=str(landing))

    def unique_passed() -> bool:
        results = list(event_checks(corners=resource, great_expectations=GreatExpectations()))
        return next(r for r in results if r.check_name == "meeting_events_unique_event_id").passed

    assert unique_passed()
    stored = pl.read_delta(str(home.events("meetings")))
    again = stored.head(1).with_columns(
        (pl.col("ingested_at") + timedelta(hours=1)).alias("ingested_at")
    )
    append(home.events("meetings"), again, "a-buggy-writer")
    assert not unique_passed()


def test_the_kubernetes_and_celery_executors_come_from_the_configuration(tmp_path, monkeypatch):
    """The job's executor is the one `scale.executor` names, with `scale.executor_config`
    checked against its schema when the definitions load; a missing package is named."""
    from fitmodel.config import ConfigError

    resource = CornersResource(home=str(tmp_path))

    def executor(scale: dict) -> dict:
        job = build_definitions(parse_config({"scale": scale}), resource).resolve_job_def(
            "refresh_job"
        )
        return dg.validate_run_config(job, {})["execution"]

    k8s = executor({"executor": "k8s", "max_concurrent": 3,
                    "executor_config": {"job_namespace": "corners", "env_secrets": ["pg"]}})  # fmt: skip
    assert k8s["k8s"]["job_namespace"] == "corners" and k8s["k8s"]["max_concurrent"] == 3
    assert k8s["k8s"]["env_secrets"] == ["pg"]
    celery = executor({"executor": "celery", "executor_config": {"broker": "pyamqp://q//"}})
    assert celery["celery"]["broker"] == "pyamqp://q//"
    # README's two examples are configurations these executors take.
    import re

    import yaml

    examples = re.findall(r"```yaml\n(scale:\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    kinds = [yaml.safe_load(e)["scale"] for e in examples if "executor_config" in e]
    assert [k["executor"] for k in kinds] == ["k8s", "celery"]
    monkeypatch.setenv("CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1//")
    for scale in kinds:
        assert scale["executor"] in executor(scale)
    with pytest.raises(ConfigError, match=r'scale\.executor_config: .*"job_namespac"'):
        executor({"executor": "k8s", "executor_config": {"job_namespac": "corners"}})
    with pytest.raises(ConfigError, match="executor_config is for executor k8s or celery"):
        executor({"executor": "multiprocess", "executor_config": {"broker": "x"}})
    # Without the package, the command says which one to install (and runs nothing).
    config = tmp_path / "celery.yaml"
    config.write_text("scale: {executor: celery}\n")
    blocked = (
        "import sys; sys.modules['dagster_celery'] = None\n"
        "from pipelines.cli.app import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked, "--config", str(config), "refresh", "--home",
         str(tmp_path / "home"), "--landing", str(tmp_path), "--as-of", AS_OF.isoformat()],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "scale.executor: celery needs the dagster-celery package" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_event_checks_audit_what_the_newest_ingest_stored(tmp_path):
    """A nightly ingest without meetings checks no meeting again; the communications it
    stored are each checked once."""
    from checks.events import event_checks

    landing = tmp_path / "landing"
    write_sample(landing, partnerships=2, days=40, seed=1, end=AS_OF)
    home = Home(tmp_path / "home")
    args = ("--home", str(home.root), "--landing", str(landing), "--quiet")
    corners("ingest", *args, check=True)
    resource = CornersResource(home=str(home.root), landing=str(landing))

    def checked(stream: str) -> dict[str, tuple[bool, int]]:
        return {
            r.check_name: (r.passed, r.metadata["rows_checked"].value)
            for r in event_checks(corners=resource, great_expectations=GreatExpectations())
            if r.check_name.startswith(stream)
        }

    stored = pl.read_delta(str(home.events("meetings"))).height
    assert {n for _, n in checked("meeting").values()} == {stored}
    late = [communication(f"late-{i}", "P00001", f"{AS_OF}T0{i}:00:00Z") for i in range(3)]
    write_lines(landing / "communications" / "late.jsonl", late)
    corners("ingest", *args, check=True)
    assert set(checked("meeting").values()) == {(True, 0)}
    assert set(checked("communication").values()) == {(True, 3)}


@pytest.fixture(scope="module")
def before_late_events(tmp_path_factory):
    """A home refreshed once, a copy refreshed again after late events (the reference), and
    the landing folder with those late events."""
    root = tmp_path_factory.mktemp("restated")
    landing = root / "landing"
    write_sample(landing, partnerships=3, days=60, seed=5, bad_rate=0.0, end=AS_OF)
    home = Home(root / "home")
    assert refresh(home, landing).returncode == 0
    reference = Home(root / "reference")
    shutil.copytree(home.root, reference.root)
    late_day = AS_OF - timedelta(days=10)
    write_lines(
        landing / "communications" / "late" / "late.jsonl",
        [communication(f"late{i}", pid="P00001", at=f"{late_day}T09:00:00Z") for i in range(9)],
    )
    assert refresh(reference, landing).returncode == 0
    return home, reference, landing, late_day


@pytest.mark.parametrize("crash_at", ["publish:published", "publish:restated"])
def test_a_refresh_killed_while_publishing_records_its_restatements_once(
    before_late_events, tmp_path, crash_at
):
    """Killed after the fit-health commit (before the restatements) or after the restatements
    (before the refresh log), the re-run records each restated day once, as an uninterrupted
    refresh does."""
    home, reference, landing, late_day = before_late_events
    first = Home(tmp_path / "crashed")
    shutil.copytree(home.root, first.root)
    killed = corners(
        "refresh", "--home", str(first.root), "--landing", str(landing),
        "--as-of", AS_OF.isoformat(), "--quiet",
        env={**os.environ, "CORNERS_CRASH_AT": crash_at},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = refresh(first, landing)
    assert rerun.returncode == 0, rerun.stderr

    def restated(home: Home) -> pl.DataFrame:
        return (
            pl.read_delta(str(home.path("restatements")))
            .drop("published_version", "restated_at")
            .sort("partnership_id", "as_of")
        )

    expected = restated(reference)
    assert expected.height and expected["as_of"].min() == late_day
    assert restated(first).equals(expected)
    assert published(first).equals(published(reference))
    # The killed run is not left "started" in the home's Dagster instance.
    with instance(first) as dagster:
        statuses = [run.status for run in dagster.get_runs()]
    assert statuses.count(dg.DagsterRunStatus.FAILURE) == 1
    assert statuses.count(dg.DagsterRunStatus.SUCCESS) == len(statuses) - 1


def test_a_refresh_does_not_start_while_another_is_in_progress(tmp_path):
    """The command line refuses while a run of the home's instance is in progress, and marks
    failed the runs of `corners` processes that are gone."""
    import fcntl

    from pipelines.run import HOST_TAG, PID_TAG

    home, landing = Home(tmp_path / "home"), tmp_path / "landing"
    write_sample(landing, partnerships=2, days=40, seed=2, bad_rate=0.0, end=AS_OF)

    @dg.op
    def step():
        pass

    @dg.job
    def other_refresh():
        step()

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    here = {HOST_TAG: socket.gethostname()}
    with instance(home) as dagster:
        orphan = dagster.create_run_for_job(
            other_refresh, status=dg.DagsterRunStatus.STARTED,
            tags={PID_TAG: gone.stdout.strip(), **here},
        )  # fmt: skip
        running = dagster.create_run_for_job(
            other_refresh, status=dg.DagsterRunStatus.STARTED,
            tags={PID_TAG: str(os.getpid()), **here},
        )  # fmt: skip
        launched = dagster.create_run_for_job(other_refresh, status=dg.DagsterRunStatus.STARTED)

    with instance(home) as dagster:  # and the runs Dagster launches are queued one at a time
        assert dagster.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    busy = refresh(home, landing)
    assert busy.returncode == 2 and "another refresh is in progress" in busy.stderr
    with instance(home) as dagster:
        assert dagster.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE
        dagster.report_run_failed(dagster.get_run_by_id(running.run_id))
    busy = refresh(home, landing)
    assert busy.returncode == 2 and launched.run_id in busy.stderr
    assert "launched by Dagster" in busy.stderr
    with instance(home) as dagster:
        dagster.report_run_failed(dagster.get_run_by_id(launched.run_id))

    # Two commands at once: the second finds the first's lock and refuses.
    with open(home.root / ".refresh.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        locked = refresh(home, landing)
    assert (
        locked.returncode == 2
        and "another corners command (a refresh, a rebuild or a backtest) is using" in locked.stderr
    )
    done = refresh(home, landing)
    assert done.returncode == 0, done.stderr
