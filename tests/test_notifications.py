"""Alert notifications through the outbox, against real HTTP sinks on 127.0.0.1 (SPEC §7)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from fitmodel.alerts import ALERT_SCHEMA
from fitmodel.config import parse_config
from pipelines import notify as nt
from pipelines.store import Home
from tests.sinks import Sink, free_port

D = date(2025, 6, 1)
FAST = {"attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


def alert(pid, rule, opened, resolved=None, severity="warning", owner="ana", explanation=None):
    return {
        "alert_id": f"{pid}:{rule}:{opened}",
        "partnership_id": pid,
        "rule": rule,
        "severity": severity,
        "opened_on": opened,
        "resolved_on": resolved,
        "last_seen_on": (resolved - timedelta(days=1)) if resolved else opened,
        "status": "resolved" if resolved else "open",
        "owner": owner,
        "name": f"{pid} deal",
        "explanation": explanation or f"{rule} holds for {pid}",
    }


def table(*rows) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ALERT_SCHEMA)


def settings(sinks: dict, digest: bool = False, delivery: dict | None = None):
    return parse_config(
        {"alerts": {"sinks": sinks, "digest": digest, "delivery": delivery or FAST}}
    ).alerts


def hook(sink_or_url, **extra) -> dict:
    url = sink_or_url if isinstance(sink_or_url, str) else sink_or_url.url
    return {"kind": "webhook", "url": url, **extra}


def outcomes(home: Home) -> pl.DataFrame:
    return pl.read_delta(str(nt.deliveries_path(home)))


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "home")


def test_a_first_run_notifies_the_latest_day_to_every_kind_of_sink_and_never_twice(home):
    history = table(
        alert("P1", "gone_quiet", D - timedelta(days=5)),
        alert("P2", "score_drop", D - timedelta(days=3), resolved=D),
        alert(
            "P3",
            "at_risk",
            D,
            severity="critical",
            owner="bo",
            explanation="fit score 41.0 (at_risk); biggest driver: trust (-6.2)",
        ),
    )
    logged: list[str] = []
    with Sink() as web, Sink() as slack:
        config = settings(
            {"ops": hook(web), "team": {"kind": "slack", "url": slack.url}, "log": {"kind": "log"}}
        )
        report = nt.notify(home, config, history, D, log=logged.append)
        assert (report.enqueued, report.delivered, report.failed) == (6, 6, 0), report.errors

        assert web.keys() == ["P3:at_risk:2025-06-01:open", "P2:score_drop:2025-05-29:resolve"]
        opened = web.received[0]
        assert opened.headers["Content-Type"] == "application/json"
        assert opened.body["idempotency_key"] == opened.headers["Idempotency-Key"]
        assert opened.body | {"text": None} == {
            "source": "corners",
            "as_of": "2025-06-01",
            "idempotency_key": "P3:at_risk:2025-06-01:open",
            "alert_id": "P3:at_risk:2025-06-01",
            "transition": "open",
            "on": "2025-06-01",
            "partnership_id": "P3",
            "partnership_name": "P3 deal",
            "owner": "bo",
            "rule": "at_risk",
            "severity": "critical",
            "opened_on": "2025-06-01",
            "explanation": "fit score 41.0 (at_risk); biggest driver: trust (-6.2)",
            "text": None,
        }
        assert opened.body["text"] == (
            "[critical] at_risk opened for P3 deal (P3) on 2025-06-01: "
            "fit score 41.0 (at_risk); biggest driver: trust (-6.2)"
        )
        resolved = web.received[1].body
        assert resolved["transition"] == "resolve" and resolved["on"] == "2025-06-01"
        assert resolved["text"] == (
            "[warning] score_drop resolved for P2 deal (P2) on 2025-06-01, open since "
            "2025-05-29; when last holding: score_drop holds for P2"
        )

        assert [r.body["text"] for r in slack.received] == [r.body["text"] for r in web.received]
        block = slack.received[0].body["blocks"][0]
        assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
        assert block["text"]["text"].startswith(":red_circle: [critical] at_risk opened")
        assert slack.received[1].body["blocks"][0]["text"]["text"].startswith(":white_check_mark:")
        assert logged == [f"alert [log] {r.body['text']}" for r in web.received]

        # The same refresh again, and the next day with one new transition: only that is sent.
        assert nt.notify(home, config, history, D, log=logged.append).enqueued == 0
        later = table(
            alert("P1", "gone_quiet", D - timedelta(days=5), resolved=D + timedelta(days=1)),
            *history.filter(pl.col("partnership_id") != "P1").iter_rows(named=True),
        )
        report = nt.notify(home, config, later, D + timedelta(days=1), log=logged.append)
        assert (report.enqueued, report.delivered) == (3, 3)
        assert web.keys()[2:] == ["P1:gone_quiet:2025-05-27:resolve"]
        assert len(slack.received) == 3 and len(logged) == 3


def test_a_sink_answering_500_then_200_gets_the_message_with_the_same_key(home):
    with Sink(script=[500, 503]) as web:
        config = settings({"ops": hook(web)})
        report = nt.notify(home, config, table(alert("P1", "score_drop", D)), D)
        assert (report.delivered, report.failed) == (1, 0)
        assert web.answered == [500, 503, 200]
        assert {r.headers["Idempotency-Key"] for r in web.received} == {
            "P1:score_drop:2025-06-01:open"
        }
    row = outcomes(home).row(0, named=True)
    assert (row["outcome"], row["attempts"], row["status_code"]) == ("delivered", 3, 200)


def test_a_client_error_is_not_retried_within_the_run_but_on_the_next_refresh(home):
    with Sink(script=[400]) as web:
        config = settings({"ops": hook(web)})
        history = table(alert("P1", "score_drop", D))
        assert nt.notify(home, config, history, D).failed == 1
        assert web.answered == [400]
        assert nt.notify(home, config, history, D).delivered == 1
        assert web.keys() == ["P1:score_drop:2025-06-01:open"]


def test_a_sink_that_times_out_is_retried_on_the_next_refresh_and_gets_each_message_once(home):
    history = table(alert("P1", "score_drop", D), alert("P2", "gone_quiet", D))
    with Sink(script=[("sleep", 1.5), ("sleep", 1.5)]) as web:
        config = settings({"ops": hook(web, timeout_seconds=0.3)}, delivery={**FAST, "attempts": 2})
        report = nt.notify(home, config, history, D)
        assert (report.delivered, report.failed) == (0, 2)
        assert len(web.received) == 2  # two attempts at the first; the second was not tried
        failed = outcomes(home).sort("key")
        assert failed["outcome"].to_list() == ["failed", "failed"]
        assert failed["attempts"].to_list() == [2, 0]
        assert "timed out" in failed["error"][0] and "not tried" in failed["error"][1]

        report = nt.notify(home, config, history, D)
        assert (report.delivered, report.failed) == (2, 0)
        assert sorted(web.keys()) == [
            "P1:score_drop:2025-06-01:open",
            "P2:gone_quiet:2025-06-01:open",
        ]
        assert nt.notify(home, config, history, D + timedelta(days=1)).delivered == 0
        assert len(web.keys()) == 2


def test_a_sink_down_for_a_whole_refresh_gets_everything_once_on_the_next(home):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    config = settings({"ops": hook(url)})
    first = table(alert("P1", "score_drop", D), alert("P2", "at_risk", D, severity="critical"))
    report = nt.notify(home, config, first, D)
    assert (report.delivered, report.failed) == (0, 2)
    assert "Connection refused" in report.errors[0]

    second = table(
        alert("P1", "score_drop", D, resolved=D + timedelta(days=1)),
        alert("P2", "at_risk", D, severity="critical"),
    )
    with Sink(port=port) as web:
        report = nt.notify(home, config, second, D + timedelta(days=1))
        assert (report.enqueued, report.delivered, report.failed) == (1, 3, 0)
        assert web.keys() == [
            "P2:at_risk:2025-06-01:open",
            "P1:score_drop:2025-06-01:open",
            "P1:score_drop:2025-06-01:resolve",
        ]
        assert nt.notify(home, config, second, D + timedelta(days=2)).delivered == 0
        assert len(web.received) == 3


def test_a_snooze_holds_the_partnerships_notifications_until_it_ends_or_severity_rises(home):
    warning = alert("P1", "score_drop", D)
    with Sink() as web:
        config = settings({"ops": hook(web)})
        nt.notify(home, config, table(warning), D)
        nt.record_action(home, warning, "snooze", "ana", until=D + timedelta(days=4), reason="QBR")

        d1, d2, d3 = (D + timedelta(days=n) for n in (1, 2, 3))
        quiet = alert("P1", "gone_quiet", d2)
        collapse = alert("P1", "score_collapse", d3, severity="critical")
        other = alert("P2", "score_drop", d1)
        resolved = alert("P1", "score_drop", D, resolved=d1)
        assert nt.notify(home, config, table(resolved, other), d1).held == 1
        assert nt.notify(home, config, table(resolved, other, quiet), d2).held == 2
        report = nt.notify(home, config, table(resolved, other, quiet, collapse), d3)
        assert (report.delivered, report.held) == (1, 2)
        assert web.keys() == [
            "P1:score_drop:2025-06-01:open",
            "P2:score_drop:2025-06-02:open",
            "P1:score_collapse:2025-06-04:open",
        ]
        # Day 4 is the snooze's last; on day 5 the held transitions go out, oldest first.
        assert (
            nt.notify(
                home, config, table(resolved, other, quiet, collapse), d3 + timedelta(days=1)
            ).held
            == 2
        )
        report = nt.notify(
            home, config, table(resolved, other, quiet, collapse), D + timedelta(days=5)
        )
        assert (report.delivered, report.held) == (2, 0)
        assert web.keys()[3:] == [
            "P1:score_drop:2025-06-01:resolve",
            "P1:gone_quiet:2025-06-03:open",
        ]


def test_an_acknowledged_alerts_unsent_opening_is_dropped_but_its_resolution_is_sent(home):
    port = free_port()
    config = settings({"ops": hook(f"http://127.0.0.1:{port}/hook")})
    opened = alert("P1", "at_risk", D, severity="critical")
    assert nt.notify(home, config, table(opened), D).failed == 1
    nt.record_action(home, opened, "ack", "ana", reason="on it")
    with Sink(port=port) as web:
        report = nt.notify(home, config, table(opened), D + timedelta(days=1))
        assert (report.dropped, report.delivered) == (1, 0) and web.received == []
        resolved = alert("P1", "at_risk", D, severity="critical", resolved=D + timedelta(days=2))
        assert nt.notify(home, config, table(resolved), D + timedelta(days=2)).delivered == 1
        assert web.keys() == ["P1:at_risk:2025-06-01:resolve"]
    dropped = outcomes(home).filter(pl.col("outcome") == "dropped")
    assert dropped["key"].to_list() == ["P1:at_risk:2025-06-01:open"]


def test_a_digest_sends_one_message_per_owner(home):
    history = table(
        alert("P1", "score_drop", D, owner="ana"),
        alert("P2", "at_risk", D, severity="critical", owner="ana"),
        alert("P3", "gone_quiet", D, owner="bo"),
    )
    with Sink() as web, Sink() as slack:
        config = settings(
            {"ops": hook(web), "team": {"kind": "slack", "url": slack.url}}, digest=True
        )
        assert nt.notify(home, config, history, D).delivered == 6
        by_owner = {r.body["owner"]: r for r in web.received}
        assert set(by_owner) == {"ana", "bo"} and len(web.received) == 2
        ana = by_owner["ana"]
        assert ana.body["kind"] == "digest"
        assert [t["alert_id"] for t in ana.body["transitions"]] == [
            "P2:at_risk:2025-06-01",
            "P1:score_drop:2025-06-01",
        ]
        assert ana.headers["Idempotency-Key"].startswith("digest:ana:2025-06-01:")
        assert ana.body["text"].splitlines()[0] == (
            "corners: 2 alert transition(s) for ana as of 2025-06-01"
        )
        assert len(slack.received) == 2
        assert all(
            r.body["blocks"][0]["text"]["text"].startswith("*corners:") for r in slack.received
        )
    assert outcomes(home)["outcome"].to_list() == ["delivered"] * 6


def test_a_sink_gets_only_the_severities_it_asks_for(home):
    history = table(alert("P1", "score_drop", D), alert("P2", "at_risk", D, severity="critical"))
    with Sink() as web:
        config = settings({"pager": hook(web, min_severity="critical")})
        nt.notify(home, config, history, D)
        assert web.keys() == ["P2:at_risk:2025-06-01:open"]


def test_sink_urls_and_headers_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CORNERS_TEST_HOOK", "http://127.0.0.1:9/x")
    monkeypatch.setenv("CORNERS_TEST_TOKEN", "s3cret")
    config = settings(
        {
            "ops": hook(
                "${CORNERS_TEST_HOOK}", headers={"Authorization": "Bearer ${CORNERS_TEST_TOKEN}"}
            )
        }
    )
    resolved = config.sinks["ops"].resolved()
    assert resolved.url == "http://127.0.0.1:9/x"
    assert resolved.headers == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(config) and "s3cret" not in config.model_dump_json()


# --- through the Dagster refresh ----------------------------------------------------------

AS_OF = date(2025, 6, 27)  # the sample below has transitions on this day and the next


def test_a_refresh_notifies_after_publication_and_a_blocked_one_notifies_nothing(
    tmp_path, monkeypatch
):
    from fitmodel.alerts import transitions
    from pipelines import refresh as rf
    from pipelines.resources import CornersResource
    from pipelines.run import run_refresh
    from pipelines.sample import write_sample
    from tests.helpers import communication, write_lines

    landing = tmp_path / "landing"
    write_sample(landing, partnerships=16, days=200, seed=3, end=AS_OF + timedelta(days=3))
    home = Home(tmp_path / "home")
    with Sink() as web:
        config = tmp_path / "corners.yaml"
        config.write_text(
            "alerts:\n  sinks:\n    ops:\n      kind: webhook\n"
            f"      url: {web.url}\n    log:\n      kind: log\n"
        )
        resource = CornersResource(
            home=str(home.root), landing=str(landing), config_path=str(config)
        )
        assert run_refresh(resource, as_of=AS_OF).success

        changes = transitions(pl.read_delta(str(home.published / "alerts")))
        on_the_day = changes.filter(pl.col("transition_on") == AS_OF)
        assert changes.height > on_the_day.height > 0  # history has older transitions
        assert sorted(web.keys()) == sorted(on_the_day["key"])
        assert {r.body["as_of"] for r in web.received} <= {AS_OF.isoformat()}

        # A candidate that fails its blocking checks is not published, so nothing is sent.
        next_day = AS_OF + timedelta(days=1)
        write_lines(
            landing / "communications" / "late" / "x.jsonl",
            [communication("late-1", pid="P00003", at=f"{next_day}T09:00:00Z")],
        )
        sent = len(web.received)
        real = rf.compute_candidate

        def defective(*args, **kwargs):
            return real(*args, **kwargs).with_columns(pl.lit(-5.0).alias("fit_score"))

        monkeypatch.setattr(rf, "compute_candidate", defective)
        outcome = run_refresh(resource, as_of=next_day)
        assert not outcome.published and outcome.blocking_failed
        assert len(web.received) == sent
        assert rf.last_refresh(home)["as_of"] == AS_OF

        monkeypatch.setattr(rf, "compute_candidate", real)
        assert run_refresh(resource, as_of=next_day).success
        changes = transitions(pl.read_delta(str(home.published / "alerts")))
        expected = changes.filter(pl.col("transition_on") == next_day)["key"]
        assert sorted(web.keys()[sent:]) == sorted(expected) and expected.len() > 0
        assert len(set(web.keys())) == len(web.keys())

        # Acknowledge and snooze from the command line; the listing shows both.
        from tests.helpers import corners

        alerts = pl.read_delta(str(home.published / "alerts")).filter(pl.col("status") == "open")
        first, second = alerts["alert_id"][0], alerts["alert_id"][1]
        root = str(home.root)
        corners("alerts", "--home", root, "ack", first, "--by", "ana", "--reason", "x", check=True)
        until = (next_day + timedelta(days=7)).isoformat()
        done = corners("alerts", "snooze", second, "--until", until, "--home", root, check=True)
        assert f"snoozed {second} through {until}" in done.stdout
        listing = corners("alerts", "--home", root, "--open", "--limit", "500", check=True).stdout
        assert "ana" in listing and until in listing
        actions = nt.read_actions(home).sort("recorded_at")
        assert actions.select("alert_id", "action", "actor").rows() == [
            (first, "ack", "ana"),
            (second, "snooze", actions["actor"][1]),
        ]
        wrong = corners("alerts", "ack", "P0:nope:2020-01-01", "--home", root)
        assert wrong.returncode == 2 and "no alert 'P0:nope:2020-01-01'" in wrong.stderr
        early = corners("alerts", "snooze", second, "--until", "2020-01-01", "--home", root)
        assert early.returncode == 2 and "before the alert's last day" in early.stderr
