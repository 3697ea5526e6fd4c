"""Run the refresh job from the command line (in this process, or its steps in processes of
their own as `scale.executor` says), recorded in the home's Dagster instance as a
`refresh_job` run.

The command line uses this, so the Dagster UI shows every run the CLI made beside the
schedule's and sensor's. One refresh at a time per home: the instance queues the runs Dagster
launches one by one, and counts the command line's runs among those in progress; the command
line refuses to start while another run is in progress, after marking failed the runs of
`corners` processes that were killed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg

from assets.ingest import landing_ingest
from assets.resources import CornersResource
from checks.ge import failure_summary
from pipelines.definitions import build_definitions, refresh_job, refresh_run_config
from pipelines.instance import instance
from store import delta
from store.home import Home

PID_TAG, HOST_TAG = "corners/pid", "corners/host"
"""Tags of a command-line run: the process that runs it, so a later one can tell it was killed."""
IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class RefreshBusy(RuntimeError):
    """Another refresh is in progress on the same home."""


@dataclass
class RefreshOutcome:
    """What a refresh run did; `failed_checks` are readable accounts of failed checks."""

    success: bool
    published: bool
    version: int | None
    run_id: str
    failed_checks: list[str] = field(default_factory=list)
    blocking_failed: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists, so it is alive
        pass
    return True


def _settle_earlier_runs(dagster: dg.DagsterInstance) -> None:
    """Mark failed the runs left in progress by a `corners` process that is gone (killed);
    raise `RefreshBusy` naming any other run in progress."""
    busy = []
    for record in dagster.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid and host == socket.gethostname() and not _alive(int(pid)):
            dagster.report_run_failed(run, f"the corners process {pid} running it is gone")
        else:
            by = f"corners process {pid} on {host}" if pid else "launched by Dagster"
            busy.append(f"Dagster run {run.run_id} ({by})")
    if busy:
        raise RefreshBusy(
            f"another refresh is in progress on this home: {', '.join(busy)}; try again when "
            "it has ended, or terminate it in the Dagster UI"
        )


def _one_command_at_a_time(home: Home) -> AbstractContextManager[None]:
    """Two `corners` commands cannot both pass the in-progress check and start."""
    busy = RefreshBusy(
        f"another corners command (a refresh, a rebuild or a backtest) is using {home.root}; "
        "try again when it has ended"
    )
    return delta.exclusive(home.root / ".refresh.lock", busy)


@contextmanager
def no_refresh(home: Home) -> Iterator[None]:
    """While held, no refresh runs: none from the command line starts, and none of Dagster's
    was in progress when it began (a backtest's lock stops those that start later)."""
    with _one_command_at_a_time(home), instance(home) as dagster:
        _settle_earlier_runs(dagster)
        yield


def _failure(result: dg.ExecuteInProcessResult) -> str | None:
    """What failed, a line per step: a step's own message, not Dagster's stack trace."""
    if result.success:
        return None
    lines = []
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        described = data.user_failure_data.description if data.user_failure_data else None
        text = described or (data.error.message.strip() if data.error else "failed")
        lines.append(f"{event.step_key}: {text.splitlines()[0]}")
    return "\n".join(lines) or "the run failed"


def _warnings(dagster: dg.DagsterInstance, run_id: str) -> list[str]:
    """What the run's steps warned of (a rejected registry, an undelivered notification),
    oldest first; Dagster's notes on steps it skipped after a failure are left out."""
    return [
        entry.user_message
        for entry in dagster.all_logs(run_id)
        if entry.dagster_event is None
        and entry.level >= logging.WARNING
        and not entry.user_message.startswith("Dependencies for step")
    ]


@contextmanager
def _location_of(corners: CornersResource) -> Iterator[None]:
    """While held, the environment names this home, landing folder and configuration, as the
    code location reads them (`pipelines.definitions`): the multiprocess executor's step
    processes inherit it and build the same job."""
    chosen = {
        "CORNERS_HOME": str(corners.layout.root),
        "CORNERS_LANDING": str(corners.landing_dir),
    }
    if corners.config_path:
        chosen["CORNERS_CONFIG"] = str(Path(corners.config_path).resolve())
    before = {name: os.environ.get(name) for name in chosen}
    os.environ.update(chosen)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_refresh(
    corners: CornersResource,
    as_of: date | None = None,
    rebuild: bool = False,
    allow_future: bool = False,
) -> RefreshOutcome:
    """One `refresh_job` run: in this process, or with `scale.executor: multiprocess` each
    step in a process of its own, this one orchestrating (a rebuild reads the event store
    only: it leaves the landing folder alone)."""
    home = corners.layout
    definitions = build_definitions(corners.settings, corners)
    job = definitions.resolve_job_def("refresh_job")
    selection = None
    if rebuild:  # every asset but the ingest's
        assets = definitions.resolve_all_asset_specs()
        selection = [a.key for a in assets if a.key not in landing_ingest.keys]
    run_config = {
        **refresh_run_config(as_of.isoformat() if as_of else None, rebuild, allow_future),
        # The run's full log is in the instance (the UI); the command prints what its steps
        # warned of, and what failed, itself.
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    tags = {
        "corners/command": "rebuild" if rebuild else "refresh",
        PID_TAG: str(os.getpid()),
        HOST_TAG: socket.gethostname(),
    }
    with _one_command_at_a_time(home), instance(home) as dagster:
        _settle_earlier_runs(dagster)
        if corners.settings.scale.executor != "in_process":
            with _location_of(corners):
                result = dg.execute_job(
                    dg.reconstructable(refresh_job),
                    instance=dagster,
                    run_config=run_config,
                    tags=tags,
                    asset_selection=selection,
                )
        else:
            result = job.execute_in_process(
                run_config=run_config,
                instance=dagster,
                raise_on_error=False,
                asset_selection=selection,
                tags=tags,
            )
        warnings = _warnings(dagster, result.run_id)
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    published = bool(result.asset_materializations_for_node("fit_health"))
    return RefreshOutcome(
        success=result.success and published,
        published=published,
        version=delta.version(home.path("fit_health")),
        run_id=result.run_id,
        failed_checks=[
            failure_summary(
                dg.AssetCheckResult(check_name=e.check_name, passed=False, metadata=e.metadata),
                blocking=e.blocking,
            )
            for e in failed
        ],
        blocking_failed=any(e.blocking for e in failed),
        error=_failure(result),
        warnings=warnings,
    )
