"""`corners ui`: the Dagster UI and daemon for a home, as `dagster dev` runs them, with the
home's instance (`<home>/dagster`, its `dagster.yaml` written first: one run at a time)."""

from __future__ import annotations

import os
import shlex
import sys

import click

from pipelines.cli.options import App, command_options, examples
from pipelines.instance import ensure_instance_yaml


def ui_command(app: App, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The `dagster dev` command line and the environment it runs with."""
    env = {
        **os.environ,
        "CORNERS_HOME": str(app.home.root),
        "DAGSTER_HOME": str(app.home.dagster),
    }
    if app.config_file:
        env["CORNERS_CONFIG"] = str(os.path.abspath(app.config_file))
    if app.landing_dir != app.home.landing:
        env["CORNERS_LANDING"] = str(app.landing_dir)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "pipelines.definitions",
        "--host",
        host,
        "--port",
        str(port),
    ]
    return command, env


@click.command(
    epilog=examples(
        "corners ui --home /data/corners",
        "corners ui --home /data/corners --port 3001 --host 0.0.0.0",
    ),
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
@click.option("--dry-run", is_flag=True, help="print the command and stop")
@command_options
def ui(app: App, host: str, port: int, dry_run: bool):
    """Start the Dagster UI (webserver) and daemon for the home, as `dagster dev` does:
    CORNERS_HOME and DAGSTER_HOME (<home>/dagster) set, and the instance's dagster.yaml written
    first, so the daemon's run queue starts one refresh at a time from the first run. The nightly
    schedule and the landing sensor can then be turned on in the UI. Stop it with Ctrl-C."""
    app.config  # noqa: B018 - a bad configuration fails here, naming its key
    ensure_instance_yaml(app.home.dagster)
    command, env = ui_command(app, host, port)
    shown = " ".join(
        f"{k}={shlex.quote(env[k])}"
        for k in ("CORNERS_HOME", "DAGSTER_HOME", "CORNERS_CONFIG", "CORNERS_LANDING")
        if k in env
    )
    click.echo(f"{shown} {shlex.join(command[2:])}", err=True)
    if dry_run:
        return
    os.execve(command[0], command, env)
