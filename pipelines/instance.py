"""The Dagster instance of a home (`<home>/dagster`): its `dagster.yaml`, written before any
Dagster process starts, so the run queue holds one refresh at a time from the first run on.

With `DAGSTER_PG_HOST` set, the instance's run, event-log and schedule storage is PostgreSQL
(dagster-postgres), named by the `DAGSTER_PG_*` variables. The file refers to the variables
(`{env: DAGSTER_PG_PASSWORD}`); no value of theirs is written, so the password stays out of
the file and every process (webserver, daemon, command line) reads its own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from store.home import Home

HEADER = "# Written by corners."

INSTANCE_YAML = f"""\
{HEADER} Runs of one home's refresh must not overlap: the daemon's run queue
# starts one at a time.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
# No DEBUG line on the console (a multiprocess step's "Executing step ... in subprocess" was
# printed even under --quiet); every Dagster event is still stored for the UI, DEBUG log
# messages are not (corners' steps write none).
python_logs:
  python_log_level: INFO
"""

PG_VARIABLES = {
    "hostname": "DAGSTER_PG_HOST",
    "port": "DAGSTER_PG_PORT",
    "username": "DAGSTER_PG_USERNAME",
    "password": "DAGSTER_PG_PASSWORD",
    "db_name": "DAGSTER_PG_DB",
}
"""Where the PostgreSQL storage's settings come from (`DAGSTER_PG_PORT` defaults to 5432)."""

POSTGRES_YAML = """\
# Run, event-log and schedule storage in PostgreSQL, from the DAGSTER_PG_* variables of
# each process's environment (nothing of their values is written here).
storage:
  postgres:
    postgres_db:
"""


class InstanceError(ValueError):
    """An instance that cannot be set up as the environment asks."""


def instance_yaml(environ: Mapping[str, str]) -> str:
    """The `dagster.yaml` corners writes for this environment."""
    if not environ.get(PG_VARIABLES["hostname"]):
        return INSTANCE_YAML
    missing = [v for k, v in PG_VARIABLES.items() if k != "port" and not environ.get(v)]
    if missing:
        raise InstanceError(
            f"DAGSTER_PG_HOST is set, so the Dagster instance is PostgreSQL; also set "
            f"{', '.join(missing)}"
        )
    port = environ.get(PG_VARIABLES["port"], "5432")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InstanceError(f"DAGSTER_PG_PORT must be a port number, not {port!r}")
    lines = [
        f"      {key}: {{env: {variable}}}"
        for key, variable in PG_VARIABLES.items()
        if key != "port" or environ.get(variable)
    ]
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres brings psycopg2.
    lines.append("      scheme: postgresql+psycopg2")
    return INSTANCE_YAML + POSTGRES_YAML + "\n".join(lines) + "\n"


def ensure_instance_yaml(folder: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Write `dagster.yaml` into `folder` unless one is there, or replace one corners wrote
    for another environment (a deployment's own file stands)."""
    wanted = instance_yaml(os.environ if environ is None else environ)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if config.exists():
        text = config.read_text(encoding="utf-8", errors="replace")
        if text == wanted or not text.startswith(HEADER):
            return config
    tmp = config.with_suffix(".yaml.tmp")
    tmp.write_text(wanted, encoding="utf-8")
    tmp.replace(config)
    return config


def instance(home: Home) -> dg.DagsterInstance:
    ensure_instance_yaml(home.dagster)
    return dg.DagsterInstance.from_config(str(home.dagster))
