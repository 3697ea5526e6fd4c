"""Run the Dagster refresh in-process, recorded in the home's Dagster instance.

The command line uses this, so `dagster dev` with `DAGSTER_HOME=<home>/dagster` shows every
run the CLI made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from checks.ge import failure_summary
from pipelines import store
from pipelines.definitions import ASSETS, CHECKS, refresh_run_config
from pipelines.refresh import fit_health_path
from pipelines.resources import CornersResource
from pipelines.store import Home

INSTANCE_YAML = "telemetry:\n  enabled: false\n"


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


def run_refresh(
    corners: CornersResource, as_of: date | None = None, rebuild: bool = False
) -> RefreshOutcome:
    home = corners.layout
    with instance(home) as dagster:
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
            tags={"corners/command": "rebuild" if rebuild else "refresh"},
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
