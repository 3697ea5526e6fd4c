"""Sinks that redirect, trickle or are configured carelessly (issue: nothing let in)."""

from __future__ import annotations

import logging
import os
import time
from datetime import date

import polars as pl
import pytest

from fitmodel.alerts import ALERT_SCHEMA
from fitmodel.config import ConfigError, parse_config
from store import outbox as nt
from store.home import Home
from tests.sinks import Sink

D = date(2025, 6, 1)
FAST = {"attempts": 2, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


def one_alert() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "alert_id": f"P1:at_risk:{D}",
                "partnership_id": "P1",
                "rule": "at_risk",
                "severity": "critical",
                "opened_on": D,
                "resolved_on": None,
                "last_seen_on": D,
                "status": "open",
                "owner": "ana",
                "name": "P1 deal",
                "explanation": "fit score 41.0 (at_risk)",
            }
        ],
        schema=ALERT_SCHEMA,
    )


def alerts_config(sink: dict):
    return parse_config(
        {"alerts": {"sinks": {"ops": sink}, "delivery": FAST}}, environ=os.environ
    ).alerts


def test_a_redirect_is_a_failed_delivery_and_the_credential_goes_nowhere_else(tmp_path):
    home = Home(tmp_path / "home")
    with Sink() as elsewhere, Sink(script=[("redirect", "x"), ("redirect", "x")]) as sink:
        sink.script[:] = [("redirect", elsewhere.url)] * 2
        config = alerts_config(
            {"kind": "webhook", "url": sink.url, "headers": {"Authorization": "Bearer t0ken"}}
        )
        report = nt.notify(home, config, one_alert(), D)
        assert (report.delivered, report.failed) == (0, 1)
        assert elsewhere.received == []  # never followed
        assert len(sink.received) == 1  # a 3xx is not retried within the round
        row = pl.read_delta(str(home.path("deliveries"))).row(0, named=True)
        assert (row["outcome"], row["status_code"]) == ("failed", 302)
        assert "redirect" in row["error"]


def test_a_trickling_sink_is_cut_off_at_the_deadline(tmp_path):
    home = Home(tmp_path / "home")
    with Sink(script=[("trickle", 0.5)] * 4) as sink:
        config = alerts_config({"kind": "webhook", "url": sink.url, "timeout_seconds": 1})
        started = time.monotonic()
        report = nt.notify(home, config, one_alert(), D)
        took = time.monotonic() - started
    assert report.failed == 1 and "timed out" in report.errors[0]
    # Two attempts of at most a second each, not 100 bytes × 0.5 s.
    assert took < 5, took


@pytest.mark.parametrize(
    ("sink", "key"),
    [
        ({"kind": "webhook", "url": "https://hooks.example.com/a b?token=${CORNERS_T}"}, "url"),
        ({"kind": "webhook", "url": "https://hooks.example.com:99999/x"}, "url"),
        ({"kind": "webhook", "url": "ftp://hooks.example.com/x"}, "url"),
        (
            {
                "kind": "webhook",
                "url": "https://hooks.example.com/x",
                "headers": {"Authorization": "Bearer ${CORNERS_T}\r\nX-Evil: 1"},
            },
            "headers",
        ),
        (
            {"kind": "webhook", "url": "https://h.example.com/", "headers": {"Bad Name": "v"}},
            "headers",
        ),
        ({"kind": "webhook", "url": "https://h.example.com/${CORNERS_T}"}, None),
    ],
)
def test_a_bad_sink_is_refused_at_load_naming_the_key_not_the_secret(sink, key, monkeypatch):
    monkeypatch.setenv("CORNERS_T", "s3cr3t-value")
    if key is None:  # a secret that itself breaks the URL
        monkeypatch.setenv("CORNERS_T", "a b\r\n")
        key = "url"
    with pytest.raises(ConfigError) as error:
        alerts_config(sink)
    message = str(error.value)
    assert f"alerts.sinks.ops.webhook.{key}" in message or f"sinks.ops.{key}" in message, message
    assert "s3cr3t" not in message and "\r" not in message


def test_an_unreachable_sink_records_its_error_without_the_secret(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CORNERS_T", "s3cr3t-value")
    home = Home(tmp_path / "home")
    # A host that does not resolve, with the secret in the URL itself.
    config = alerts_config({"kind": "webhook", "url": "http://s3cr3t-value.invalid/${CORNERS_T}"})
    with caplog.at_level(logging.DEBUG):
        report = nt.notify(home, config, one_alert(), D)
    assert report.failed == 1
    recorded = pl.read_delta(str(home.path("deliveries")))["error"].to_list()
    assert all("s3cr3t" not in e for e in recorded + report.errors)
    assert "s3cr3t" not in caplog.text
