"""Run the Dagster refresh in-process, recorded in the home's Dagster instance.

The command line uses this, so `dagster dev` with `DAGSTER_HOME=<home>/dagster` shows every
run the CLI made. One refresh at a time per home: the instance queues the runs Dagster
launches (schedule, sensor, UI) one by one, and counts the command line's runs among those in
progress; the command line refuses to start while another run is in progress, after marking
failed the runs of `corners` processes that were killed.
"""

from __future__ import annotations

import os
import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from checks.ge import failure_summary
from pipelines import store
from pipelines.definitions import ASSETS, CHECKS, refresh_run_config
from pipelines.refresh import fit_health_path
from pipelines.resources import CornersResource
from pipelines.store import Home

INSTANCE_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1  # refreshes of one home must not overlap
"""
PID_TAG, HOST_TAG = "corners/pid", "corners/host"
"""Tags of a command-line run: the process that runs it, so a later one can tell it was killed."""
IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class RefreshBusy(RuntimeError):
    """Another refresh is in progress on the same home."""


def instance(home: Home) -> dg.DagsterInstance:
    folder = home.dagster
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return dg.DagsterInstance.from_config(str(folder))


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
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
        f"another corners command is refreshing {home.root}; try again when it has ended"
    )
    return store.exclusive(home.root / ".refresh.lock", busy)


def run_refresh(
    corners: CornersResource, as_of: date | None = None, rebuild: bool = False
) -> RefreshOutcome:
    home = corners.layout
    with _one_command_at_a_time(home), instance(home) as dagster:
        _settle_earlier_runs(dagster)
        result = dg.materialize(
            [*ASSETS, *CHECKS],
            resources={"corners": corners},
            instance=dagster,
            run_config={
                **refresh_run_config(as_of.isoformat() if as_of else None, rebuild),
                # The run's full log is in the instance (dagster dev); the terminal gets warnings.
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
            raise_on_error=False,
            tags={
                "corners/command": "rebuild" if rebuild else "refresh",
                PID_TAG: str(os.getpid()),
                HOST_TAG: socket.gethostname(),
            },
        )
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    published = bool(result.asset_materializations_for_node("fit_health"))
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = (
            "\n".join(
                f"{e.step_key}: {e.step_failure_data.error.message.strip()}" for e in failures
            )
            or "the run failed"
        )
    return RefreshOutcome(
        success=result.success and published,
        published=published,
        version=store.version(fit_health_path(home)),
        run_id=result.run_id,
        failed_checks=[
            failure_summary(
                dg.AssetCheckResult(check_name=e.check_name, passed=False, metadata=e.metadata)
            )
            for e in failed
        ],
        blocking_failed=any(e.blocking for e in failed) if failed else False,
        error=error,
    )
