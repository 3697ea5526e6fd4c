"""One refresh at a time per home, whatever launched it: a run's first step stops it before
it writes anything when another `refresh_job` run of the instance is in progress (the
instance's run queue should already prevent that; a `dagster.yaml` without one does not)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from store import delta
from store.home import Home
from store.layout import BACKTEST_LOCK

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def alone(context: dg.AssetExecutionContext, home: Home) -> None:
    """Raise unless this run is the only refresh in progress and no backtest is reading the
    home (a backtest holds its lock, then checks that no refresh is in progress: one of the
    two sees the other)."""
    if delta.held(home.root / BACKTEST_LOCK):
        raise dg.Failure(
            f"a backtest is reading {home.root}: this run stops before writing anything; "
            "run it again when the backtest has ended",
            allow_retries=False,
        )
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


def _permanent_errors() -> tuple[type[Exception], ...]:
    from fitmodel.config import ConfigError
    from fitmodel.registry import RegistryError
    from fitmodel.rules import RuleError
    from store.home import HomeError
    from store.ingest import AccountingError, IngestError
    from store.publish import PlanError

    return (
        ConfigError,
        RegistryError,
        RuleError,
        HomeError,
        AccountingError,
        IngestError,
        PlanError,
    )


@contextmanager
def permanent() -> Iterator[None]:
    """corners' own errors fail the step for good, with their one-line message: retrying
    does not mend a bad rule, configuration or as_of (the job retries transient failures)."""
    try:
        yield
    except _permanent_errors() as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def failing_for_good(fn):
    """`permanent` around an asset's body (a generator's too); the signature Dagster reads is
    the asset's own."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generate(*args, **kwargs):
            with permanent():
                yield from fn(*args, **kwargs)

        return generate

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with permanent():
            return fn(*args, **kwargs)

    return call
