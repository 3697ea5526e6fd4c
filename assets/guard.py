"""One refresh at a time per home, whatever launched it: a run's first step stops it before
it writes anything when another `refresh_job` run of the instance is in progress (the
instance's run queue should already prevent that; a `dagster.yaml` without one does not)."""

from __future__ import annotations

import dagster as dg

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def alone(context: dg.AssetExecutionContext) -> None:
    """Raise unless this run is the only refresh in progress."""
    records = context.instance.get_run_records(
        dg.RunsFilter(job_name="refresh_job", statuses=IN_PROGRESS)
    )
    others = [r.dagster_run.run_id for r in records if r.dagster_run.run_id != context.run.run_id]
    if others:
        raise dg.Failure(
            f"another refresh of this home is in progress (run {', '.join(others)}): this run "
            "stops before writing anything. Queue runs one at a time (corners ui writes such a "
            "dagster.yaml).",
            allow_retries=False,
        )
