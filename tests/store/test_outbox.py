"""Alert notifications through the outbox, against real HTTP sinks on 127.0.0.1 (SPEC §7)."""

from __future__ import annotations

import os
from datetime import date, timedelta

import polars as pl

from fitmodel.alerts import ALERT_SCHEMA
from fitmodel.config import parse_config
from store import alerts as alerts_table
from store import outbox as nt
from store.home import Home
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
        {"alerts": {"sinks": sinks, "digest": digest, "delivery": delivery or FAST}},
        environ=os.environ,
    ).alerts


def hook(sink_or_url, **extra) -> dict:
    url = sink_or_url if isinstance(sink_or_url, str) else sink_or_url.url
    return {"kind": "webhook", "url": url, **extra}


def outcomes(home: Home) -> pl.DataFrame:
    return pl.read_delta(str(home.path("deliveries")))


def test_a_first_round_notifies_only_what_opened_on_as_of_to_every_kind_of_sink(home):
    history = table(
        alert("P1", "gone_quiet", D - timedelta(days=5)),  # open before: seen, never notified
        alert("P2", "score_drop", D - timedelta(days=3), resolved=D),  # resolved: nothing
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
        assert (report.enqueued, report.delivered, report.failed) == (3, 3, 0), report.errors

        assert web.keys() == ["P3:at_risk:2025-06-01:open"]
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
        assert [r.body["text"] for r in slack.received] == [r.body["text"] for r in web.received]
        block = slack.received[0].body["blocks"][0]
        assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
        assert block["text"]["text"].startswith(":red_circle: [critical] at_risk opened")
        assert logged == [f"alert [log] {r.body['text']}" for r in web.received]

        # The same round again sends nothing.
        assert nt.notify(home, config, history, D, log=logged.append).enqueued == 0
        # Next day: P3 resolves (its opening was sent: resolve), P1 resolves (its opening was
        # left unnotified for good: nothing), and a late event opened P4 two days ago.
        later = table(
            alert("P1", "gone_quiet", D - timedelta(days=5), resolved=D + timedelta(days=1)),
            alert("P2", "score_drop", D - timedelta(days=3), resolved=D),
            alert("P3", "at_risk", D, severity="critical", resolved=D + timedelta(days=1)),
            alert("P4", "score_drop", D - timedelta(days=2)),
        )
        report = nt.notify(home, config, later, D + timedelta(days=1), log=logged.append)
        assert (report.enqueued, report.delivered) == (6, 6)
        assert web.keys()[1:] == [
            "P4:score_drop:2025-05-30:open",
            "P3:at_risk:2025-06-01:resolve",
        ]
        assert slack.received[2].body["blocks"][0]["text"]["text"].startswith(":white_check_mark:")
        resolved = web.received[2].body
        assert resolved["transition"] == "resolve" and resolved["on"] == "2025-06-02"
        assert resolved["text"].startswith(
            "[critical] at_risk resolved for P3 deal (P3) on 2025-06-02, open since 2025-06-01"
        )


def test_late_openings_are_notified_whatever_their_day_once_a_round_has_run(home):
    with Sink() as web:
        config = settings({"ops": hook(web)})
        nt.notify(home, config, table(), D)  # the first round: nothing yet
        # A sensor refresh with the same as_of finds episodes that late events opened in days
        # already published: each is notified once, and their later resolution too.
        late = table(
            alert("P1", "score_collapse", D - timedelta(days=4), severity="critical"),
            alert("P2", "ratio_below_3", D - timedelta(days=9)),
        )
        assert nt.notify(home, config, late, D).delivered == 2
        assert nt.notify(home, config, late, D).delivered == 0
        assert sorted(web.keys()) == [
            "P1:score_collapse:2025-05-28:open",
            "P2:ratio_below_3:2025-05-23:open",
        ]


def test_an_episode_a_restatement_moves_is_withdrawn_and_its_new_self_opened(home):
    with Sink() as web:
        config = settings({"ops": hook(web)})
        nt.notify(home, config, table(alert("P1", "at_risk", D, severity="critical")), D)
        # Late data: the episode now opens a day earlier (another alert_id), and P2's
        # episode, never notified (first round, older), disappears: nothing for it.
        restated = table(alert("P1", "at_risk", D - timedelta(days=1), severity="critical"))
        report = nt.notify(home, config, restated, D)
        assert report.delivered == 2
        assert web.keys() == [
            "P1:at_risk:2025-06-01:open",
            "P1:at_risk:2025-05-31:open",
            "P1:at_risk:2025-06-01:withdrawn",
        ]
        withdrawn = web.received[2].body
        assert withdrawn["transition"] == "withdrawn" and withdrawn["on"] == "2025-06-01"
        assert "withdrawn for P1 deal (P1): the episode opened on 2025-06-01" in withdrawn["text"]
        # Gone for good: nothing more about it, ever.
        assert nt.notify(home, config, table(), D + timedelta(days=1)).enqueued == 1
        assert web.keys()[3:] == ["P1:at_risk:2025-05-31:withdrawn"]
        assert nt.notify(home, config, table(), D + timedelta(days=2)).enqueued == 0


def test_an_opening_undelivered_when_its_episode_resolves_is_dropped_and_nothing_follows(home):
    port = free_port()
    config = settings({"ops": hook(f"http://127.0.0.1:{port}/hook")})
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
        assert (report.enqueued, report.delivered, report.dropped) == (0, 1, 1)
        assert web.keys() == ["P2:at_risk:2025-06-01:open"]
        assert nt.notify(home, config, second, D + timedelta(days=2)).delivered == 0
        assert len(web.received) == 1
    dropped = outcomes(home).filter(pl.col("outcome") == "dropped").row(0, named=True)
    assert dropped["key"] == "P1:score_drop:2025-06-01:open"
    assert "no longer due: the episode is resolved" in dropped["error"]


def test_an_episode_that_opened_and_resolved_between_rounds_is_never_notified(home):
    with Sink() as web:
        config = settings({"ops": hook(web)})
        nt.notify(home, config, table(), D)
        between = table(alert("P1", "score_drop", D, resolved=D + timedelta(days=2)))
        assert nt.notify(home, config, between, D + timedelta(days=3)).enqueued == 0
        assert web.received == []


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


def test_a_client_error_is_not_retried_within_the_round_but_on_the_next(home):
    with Sink(script=[400]) as web:
        config = settings({"ops": hook(web)})
        history = table(alert("P1", "score_drop", D))
        assert nt.notify(home, config, history, D).failed == 1
        assert web.answered == [400]
        assert nt.notify(home, config, history, D).delivered == 1
        assert web.keys() == ["P1:score_drop:2025-06-01:open"]


def test_a_sink_that_times_out_is_retried_on_the_next_round_and_gets_each_message_once(home):
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


def test_a_snooze_holds_the_partnerships_notifications_until_it_ends_or_severity_rises(home):
    warning = alert("P1", "score_drop", D)
    with Sink() as web:
        config = settings({"ops": hook(web)})
        nt.notify(home, config, table(warning), D)
        alerts_table.record_action(
            home, warning, "snooze", "ana", until=D + timedelta(days=4), reason="QBR"
        )

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
        everything = table(resolved, other, quiet, collapse)
        assert nt.notify(home, config, everything, d3 + timedelta(days=1)).held == 2
        report = nt.notify(home, config, everything, D + timedelta(days=5))
        assert (report.delivered, report.held) == (2, 0)
        assert web.keys()[3:] == [
            "P1:score_drop:2025-06-01:resolve",
            "P1:gone_quiet:2025-06-03:open",
        ]


def test_an_acknowledged_alerts_unsent_opening_is_dropped_and_nothing_follows_it(home):
    port = free_port()
    config = settings({"ops": hook(f"http://127.0.0.1:{port}/hook")})
    opened = alert("P1", "at_risk", D, severity="critical")
    assert nt.notify(home, config, table(opened), D).failed == 1
    alerts_table.record_action(home, opened, "ack", "ana", reason="on it")
    with Sink(port=port) as web:
        report = nt.notify(home, config, table(opened), D + timedelta(days=1))
        assert (report.dropped, report.delivered) == (1, 0) and web.received == []
        resolved = alert("P1", "at_risk", D, severity="critical", resolved=D + timedelta(days=2))
        assert nt.notify(home, config, table(resolved), D + timedelta(days=2)).enqueued == 0
        assert web.received == []  # no resolve of an opening never sent
    dropped = outcomes(home).filter(pl.col("outcome") == "dropped")
    assert dropped["key"].to_list() == ["P1:at_risk:2025-06-01:open"]
    assert dropped["error"].to_list() == ["acknowledged before it was sent"]


def test_an_acknowledged_alert_that_was_sent_still_gets_its_resolution(home):
    with Sink() as web:
        config = settings({"ops": hook(web)})
        opened = alert("P1", "at_risk", D, severity="critical")
        nt.notify(home, config, table(opened), D)
        alerts_table.record_action(home, opened, "ack", "ana")
        resolved = alert("P1", "at_risk", D, severity="critical", resolved=D + timedelta(days=1))
        assert nt.notify(home, config, table(resolved), D + timedelta(days=1)).delivered == 1
        assert web.keys() == ["P1:at_risk:2025-06-01:open", "P1:at_risk:2025-06-01:resolve"]


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


def test_sink_urls_and_headers_come_from_the_environment_when_sent(monkeypatch):
    monkeypatch.setenv("CORNERS_TEST_HOOK", "http://127.0.0.1:9/x")
    monkeypatch.setenv("CORNERS_TEST_TOKEN", "s3cret")
    config = settings(
        {
            "ops": hook(
                "${CORNERS_TEST_HOOK}", headers={"Authorization": "Bearer ${CORNERS_TEST_TOKEN}"}
            )
        }
    )
    resolved = config.sinks["ops"].resolved(os.environ)
    assert resolved.url == "http://127.0.0.1:9/x"
    assert resolved.headers == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(config) and "s3cret" not in config.model_dump_json()


# --- through the Dagster refresh ----------------------------------------------------------

AS_OF = date(2025, 6, 27)  # the sample below has transitions on this day and the next


def test_a_refresh_notifies_after_publication_and_a_blocked_one_notifies_nothing(
    tmp_path, monkeypatch
):
    from assets.resources import CornersResource
    from pipelines.run import run_refresh
    from store import publish as rf
    from store.sample import write_sample
    from tests.helpers import escalation_opened, write_lines

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

        # The first round over a history: the episodes open on as_of that opened that day.
        alerts = pl.read_delta(str(home.path("alerts")))
        open_now = alerts.filter(pl.col("status") == "open")
        on_the_day = open_now.filter(pl.col("opened_on") == AS_OF)
        assert open_now.height > on_the_day.height > 0  # older open episodes stay unnotified
        assert sorted(web.keys()) == sorted(f"{a}:open" for a in on_the_day["alert_id"])
        assert {r.body["as_of"] for r in web.received} <= {AS_OF.isoformat()}
        notified = set(on_the_day["alert_id"])
        seen = set(open_now["alert_id"])

        # Late data: escalations ten days back open episodes in days already published. A
        # candidate that fails its blocking checks is not published, so nothing is sent.
        next_day = AS_OF + timedelta(days=1)
        back = AS_OF - timedelta(days=10)
        write_lines(
            landing / "escalations" / "late" / "x.jsonl",
            [
                escalation_opened(f"late-{i}", f"LATE-{i}", pid="P00001", at=f"{back}T09:00:00Z")
                for i in range(30)
            ],
        )
        sent = len(web.received)
        real = rf.compute_candidate

        def defective(*args, **kwargs):
            return real(*args, **kwargs).with_columns(pl.lit(-5.0).alias("fit_score"))

        monkeypatch.setattr(rf, "compute_candidate", defective)
        outcome = run_refresh(resource, as_of=next_day)
        assert not outcome.published and outcome.blocking_failed
        assert len(web.received) == sent
        assert rf.published_as_of(home) == AS_OF

        monkeypatch.setattr(rf, "compute_candidate", real)
        assert run_refresh(resource, as_of=next_day).success
        alerts = pl.read_delta(str(home.path("alerts")))
        current = dict(zip(alerts["alert_id"], alerts["status"], strict=True))
        expected = {f"{a}:open" for a, s in current.items() if s == "open" and a not in seen}
        expected |= {f"{a}:resolve" for a in notified if current.get(a) == "resolved"}
        expected |= {f"{a}:withdrawn" for a in notified if a not in current}
        assert sorted(web.keys()[sent:]) == sorted(expected)
        assert any(key.startswith("P00001:") and key.endswith(":open") for key in expected)
        assert len(set(web.keys())) == len(web.keys())

        # Acknowledge and snooze from the command line; the listing shows both.
        from tests.helpers import corners

        alerts = alerts.filter(pl.col("status") == "open")
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
