"""The Dagster instance of a home (`<home>/dagster`): its `dagster.yaml`, written before any
Dagster process starts, so the run queue holds one refresh at a time from the first run on."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from store.home import Home

INSTANCE_YAML = """\
# Written by corners. Runs of one home's refresh must not overlap: the daemon's run queue
# starts one at a time.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
"""


def ensure_instance_yaml(folder: Path) -> Path:
    """Write `dagster.yaml` into `folder` unless one is there (a deployment's own stands)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return config


def instance(home: Home) -> dg.DagsterInstance:
    ensure_instance_yaml(home.dagster)
    return dg.DagsterInstance.from_config(str(home.dagster))
