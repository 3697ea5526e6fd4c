"""Dagster's real processes for a home: `dagster-webserver` and `dagster-daemon` on
127.0.0.1, and a GraphQL client that drives them the way the UI does. Everything started is
stopped on exit (whole process groups)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.instance import ensure_instance_yaml
from tests.helpers import ROOT

LOCATION = "pipelines.definitions"
REPOSITORY = "__repository__"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dagster:
    """The webserver (and, with `daemon`, the daemon) of a home's Dagster instance."""

    home: Path
    config: Path | None = None
    daemon: bool = True
    port: int = field(default_factory=free_port)
    logs: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    """More environment for both processes (the `DAGSTER_PG_*` of a PostgreSQL instance)."""
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def env(self) -> dict[str, str]:
        env = dict(os.environ, CORNERS_HOME=str(self.home), DAGSTER_HOME=str(self.home / "dagster"))
        if self.config:
            env["CORNERS_CONFIG"] = str(self.config)
        return env | self.extra_env

    def _start(self, name: str, *args: str) -> None:
        log = open(self.logs / f"{name}.log", "w") if self.logs else subprocess.DEVNULL  # noqa: SIM115
        self.processes.append(
            subprocess.Popen(
                [os.path.join(os.path.dirname(sys.executable), name), *args, "-m", LOCATION],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: its code servers stop with it
            )
        )

    def __enter__(self) -> Dagster:
        ensure_instance_yaml(self.home / "dagster", self.env())
        self._start("dagster-webserver", "-h", "127.0.0.1", "-p", str(self.port))
        if self.daemon:
            self._start("dagster-daemon", "run")
        self.wait_until(lambda: self.query("{ version }").get("version"), 120, "the webserver")
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def query(self, text: str, variables: dict | None = None) -> dict:
        """One GraphQL request; {} while the server is not up."""
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
        except OSError:
            return {}
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer.get("data") or {}

    @staticmethod
    def wait_until(condition, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"waited {seconds:.0f} s for {what}")

    def launch(self, job: str, run_config: dict) -> str:
        """Launch a run as the UI's Launchpad does; returns its id (the daemon queues it)."""
        data = self.query(
            """mutation Launch($params: ExecutionParams!) {
                launchRun(executionParams: $params) {
                    __typename
                    ... on LaunchRunSuccess { run { runId } }
                    ... on PythonError { message }
                    ... on RunConfigValidationInvalid { errors { message } }
                }
            }""",
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": REPOSITORY,
                        "jobName": job,
                    },
                    "runConfigData": run_config,
                }
            },
        )["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def runs(self) -> list[dict]:
        data = self.query(
            """{ runsOrError(filter: {pipelineName: "refresh_job"}) {
                ... on Runs { results { runId status tags { key value } } } } }"""
        )
        return data.get("runsOrError", {}).get("results", [])

    def steps(self, run_id: str) -> list[dict]:
        """Each step of a run: its key, status, start and end (epoch seconds)."""
        data = self.query(
            """query Steps($id: ID!) { runOrError(runId: $id) { ... on Run {
                stepStats { stepKey status startTime endTime } } } }""",
            {"id": run_id},
        )
        return data.get("runOrError", {}).get("stepStats", [])

    def status(self, run_id: str) -> str | None:
        return next((r["status"] for r in self.runs() if r["runId"] == run_id), None)

    def wait_for_run(self, run_id: str, seconds: float = 240) -> str:
        done = {"SUCCESS", "FAILURE", "CANCELED"}
        return self.wait_until(
            lambda: self.status(run_id) if self.status(run_id) in done else None,
            seconds,
            f"run {run_id} to end",
        )

    def start_sensor(self, name: str) -> None:
        data = self.query(
            """mutation Start($selector: SensorSelector!) {
                startSensor(sensorSelector: $selector) {
                    __typename ... on Sensor { sensorState { status } }
                    ... on PythonError { message }
                }
            }""",
            {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "sensorName": name,
                }
            },
        )["startSensor"]
        assert data["__typename"] == "Sensor", data
