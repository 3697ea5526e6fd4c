"""The Dagster definitions of corners: assets, checks, the refresh job, schedule and sensor.

Loaded by `workspace.yaml` (and `[tool.dagster]`); the home folder comes from
`CORNERS_HOME` (resolved when a run starts) and the configuration file from
`CORNERS_CONFIG` when the code location loads (the schedule's cron is part of it).
"""

from __future__ import annotations

import hashlib
import importlib
from datetime import timedelta

import dagster as dg

from assets.alerts import alert_notifications, alerts, sharded_alerts
from assets.fit import fit_health, fit_health_candidate, shard_key, sharded
from assets.ingest import landing_ingest
from assets.renewals import renewal_candidates, renewal_publication
from assets.report import fit_health_report
from assets.resources import CornersResource
from checks.alerts import alerts_checks
from checks.events import event_checks
from checks.fit_health import fit_health_candidate_checks, shard_checks
from checks.ge import GreatExpectations
from checks.renewals import renewal_checks
from fitmodel.config import ConfigError, CornersConfig, ScaleConfig
from store.ingest import IngestError, new_landing_files
from store.settings import load_config


def assets_for(config: CornersConfig) -> list[dg.AssetsDefinition]:
    """The assets of the refresh: with `scale.shards` > 1, an asset per shard computes its
    candidate rows and the publication takes them all in one commit."""
    count = config.scale.shards
    fit = (
        [fit_health_candidate, fit_health]
        if count == 1
        else [fit_health_candidate, *sharded(count)]
    )
    return [
        landing_ingest,
        *fit,
        *([alerts] if count == 1 else sharded_alerts(count)),
        alert_notifications,
        renewal_candidates,
        renewal_publication,
        fit_health_report,
    ]


def checks_for(config: CornersConfig, assets: list[dg.AssetsDefinition]) -> list:
    count = config.scale.shards
    if count == 1:
        fit = [fit_health_candidate_checks]
    else:
        by_key = {k.path[-1]: a for a in assets for k in a.keys}
        fit = [shard_checks(by_key[shard_key(k)], k, count) for k in range(count)]
    return [*fit, event_checks, alerts_checks, renewal_checks]


ASSETS = assets_for(CornersConfig())
CHECKS = checks_for(CornersConfig(), ASSETS)
"""The assets and checks of the default configuration (one shard)."""


ELSEWHERE = {
    "k8s": ("dagster-k8s", "dagster_k8s", "k8s_job_executor"),
    "celery": ("dagster-celery", "dagster_celery", "celery_executor"),
}
"""The executors of other packages: the package, its module, the executor's name."""


def _executor(scale: ScaleConfig) -> dg.ExecutorDefinition:
    if scale.executor == "in_process":  # no process to start per step
        return dg.in_process_executor
    if scale.executor == "multiprocess":
        # Each step's process forks from a server that has imported what steps need
        # (`pipelines.worker`), rather than starting an interpreter and importing it all.
        start = {"forkserver": {"preload_modules": ["pipelines.worker"]}}
        return dg.multiprocess_executor.configured(
            {"max_concurrent": scale.max_concurrent, "start_method": start}
        )
    package, module, name = ELSEWHERE[scale.executor]
    try:
        executor = getattr(importlib.import_module(module), name)
    except ImportError:
        raise ConfigError(
            f"scale.executor: {scale.executor} needs the {package} package "
            f"(pip install {package}=={dg.__version__.replace('1.', '0.', 1)})"
        ) from None
    config = dict(scale.executor_config)
    if scale.executor == "k8s":
        config.setdefault("max_concurrent", scale.max_concurrent)
    return executor.configured(config)


def build_job(config: CornersConfig) -> dg.UnresolvedAssetJobDefinition:
    executor = _executor(config.scale)
    return dg.define_asset_job(
        "refresh_job",
        selection=dg.AssetSelection.all(),
        description="The nightly refresh: ingest, project, check, publish, alert.",
        executor_def=executor,
        op_retry_policy=dg.RetryPolicy(
            max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
    )


def refresh_run_config(
    as_of: str | None = None, rebuild: bool = False, allow_future: bool = False
) -> dict:
    config: dict = {"rebuild": rebuild, "allow_future": allow_future}
    if as_of:
        config["as_of"] = as_of
    return {"ops": {"fit_health_candidate": {"config": config}}}


def build_schedule(config: CornersConfig, job=None) -> dg.ScheduleDefinition:
    job = job or build_job(config)

    @dg.schedule(
        name="nightly_refresh_schedule",
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        job=job,
        description="Refresh through the day before the scheduled time.",
    )
    def nightly_refresh_schedule(context: dg.ScheduleEvaluationContext):
        as_of = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"nightly-{as_of}", run_config=refresh_run_config(as_of))

    return nightly_refresh_schedule


def landing_fingerprint(corners: CornersResource) -> str:
    """Changes whenever a landing file appears, disappears or changes (names, sizes, times)."""
    folder = corners.landing_dir
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


def build_sensor(config: CornersConfig, job=None) -> dg.SensorDefinition:
    job = job or build_job(config)

    @dg.sensor(
        name="landing_sensor",
        job=job,
        minimum_interval_seconds=config.schedule.sensor_interval_seconds,
        description="Starts a refresh when the landing folder holds files the ingest has not "
        "recorded (new content, whatever its name).",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, corners: CornersResource):
        fingerprint = landing_fingerprint(corners)
        if fingerprint == context.cursor:
            return dg.SkipReason("no landing file appeared or changed")
        try:
            fresh = new_landing_files(corners.layout, corners.landing_dir)
        except IngestError as exc:
            return dg.SkipReason(str(exc))
        context.update_cursor(fingerprint)
        if not fresh:
            return dg.SkipReason("the landing folder changed, but every file in it is ingested")
        digest = hashlib.sha256("\n".join(sorted(f.digest for f in fresh)).encode())
        return dg.RunRequest(
            run_key=f"landing-{digest.hexdigest()[:16]}", run_config=refresh_run_config()
        )

    return landing_sensor


def build_definitions(config: CornersConfig, corners: CornersResource) -> dg.Definitions:
    assets = assets_for(config)
    job = build_job(config)
    definitions = dg.Definitions(
        assets=assets,
        asset_checks=checks_for(config, assets),
        jobs=[job],
        schedules=[build_schedule(config, job)],
        sensors=[build_sensor(config, job)],
        resources={"corners": corners, "great_expectations": GreatExpectations()},
    )
    if config.scale.executor in ELSEWHERE:  # their configuration, checked now, not at a run
        try:
            dg.validate_run_config(definitions.resolve_job_def("refresh_job"), {})
        except dg.DagsterInvalidConfigError as exc:
            reasons = "; ".join(e.message.split(" Expected: ")[0] for e in exc.errors)
            raise ConfigError(f"scale.executor_config: {reasons}") from None
    return definitions


def _location() -> dg.Definitions:
    """The code location: the home `$CORNERS_HOME`, the configuration `$CORNERS_CONFIG`."""
    return build_definitions(load_config(), CornersResource(home=dg.EnvVar("CORNERS_HOME")))


def refresh_job() -> dg.JobDefinition:
    """The location's refresh job, built anew from the environment, for `dg.reconstructable`:
    a run on the multiprocess executor builds it again in each step's process."""
    return _location().resolve_job_def("refresh_job")


defs = _location()
