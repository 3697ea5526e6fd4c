"""The nightly job as Dagster runs it: the real daemon and webserver on 127.0.0.1, a refresh
launched through the webserver's GraphQL API as the UI does, late events picked up by the
landing sensor, and a webhook receiver that must hear of every newly opened alert exactly
once and of no resolution of an opening it never received."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from store.home import Home
from store.sample import write_sample
from tests.dagster_processes import Dagster
from tests.helpers import escalation_opened, write_lines
from tests.sinks import Sink


def test_late_data_under_the_daemon_reaches_the_webhook_exactly_once(tmp_path):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    home = Home(tmp_path / "home")
    landing = home.landing
    write_sample(landing, partnerships=6, days=150, seed=11, end=yesterday)
    with Sink() as web:
        config = tmp_path / "corners.yaml"
        config.write_text(
            "schedule:\n  sensor_interval_seconds: 1\n"
            f"alerts:\n  sinks:\n    ops: {{kind: webhook, url: '{web.url}'}}\n"
        )
        with Dagster(home.root, config, logs=tmp_path) as dagster:
            run_id = dagster.launch("refresh_job", {})
            assert dagster.wait_for_run(run_id) == "SUCCESS", tmp_path / "dagster-daemon.log"
            first = set(web.keys())
            alerts = pl.read_delta(str(home.path("alerts")))
            opened_today = alerts.filter(
                (pl.col("status") == "open") & (pl.col("opened_on") == yesterday)
            )
            assert first == {f"{a}:open" for a in opened_today["alert_id"]}

            # Late events: escalations dated ten days back open episodes in published days.
            back = yesterday - timedelta(days=10)
            write_lines(
                landing / "escalations" / "late" / "late.jsonl",
                [
                    escalation_opened(f"late-{i}", f"L{i}", pid="P00001", at=f"{back}T09:00:00Z")
                    for i in range(30)
                ],
            )
            dagster.start_sensor("landing_sensor")
            second = dagster.wait_until(
                lambda: [r for r in dagster.runs() if r["runId"] != run_id], 180, "a sensor run"
            )[0]
            assert dagster.wait_for_run(second["runId"]) == "SUCCESS"
            assert {t["key"]: t["value"] for t in second["tags"]}.get("dagster/sensor_name") == (
                "landing_sensor"
            )
            # A later tick with nothing new starts nothing.
            dagster.wait_until(
                lambda: "no landing file" in _last_skip(dagster) or None, 60, "a skipped tick"
            )
            assert len(dagster.runs()) == 2

    keys = web.keys()
    assert len(keys) == len(set(keys))  # each transition exactly once
    opens = {k.rsplit(":", 1)[0] for k in keys if k.endswith(":open")}
    for key in keys:
        if not key.endswith(":open"):
            assert key.rsplit(":", 1)[0] in opens, f"{key} without its opening"
    late = [k for k in keys[len(first) :] if k.startswith("P00001:") and k.endswith(":open")]
    assert late, keys  # the late episodes were notified
    alerts = pl.read_delta(str(home.path("alerts")))
    for key in late:
        assert key.removesuffix(":open") in set(alerts["alert_id"])


def _last_skip(dagster: Dagster) -> str:
    data = dagster.query(
        """{ sensorOrError(sensorSelector: {repositoryLocationName: "pipelines.definitions",
             repositoryName: "__repository__", sensorName: "landing_sensor"}) {
             ... on Sensor { sensorState { ticks(limit: 1) { status skipReason } } } } }"""
    )
    ticks = data.get("sensorOrError", {}).get("sensorState", {}).get("ticks", [])
    return (ticks[0].get("skipReason") or "") if ticks else ""
