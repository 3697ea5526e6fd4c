"""Configuration: defaults from SPEC, and errors that name the key."""

from __future__ import annotations

import pytest

from fitmodel.config import ConfigError, CornersConfig, parse_config
from store.settings import load_config
from tests.helpers import corners


def test_every_key_is_optional_with_spec_defaults(tmp_path):
    path = tmp_path / "corners.yaml"
    path.write_text("")
    config = load_config(path)
    assert config == CornersConfig()
    assert config.model.components.survey.weight == 0.40
    assert config.model.windows.activity_days == 90
    assert config.schedule.cron == "0 2 * * *"
    assert config.validation.horizons_days == [30, 60, 90]
    rules = {n: (r.when, r.severity, r.for_days) for n, r in config.alerts.rules.items()}
    assert rules == {
        "score_drop": ("score_change_30d <= -10", "warning", 1),
        "score_collapse": ("score_change_30d <= -20", "critical", 1),
        "at_risk": ("band = 'at_risk'", "critical", 1),
        "ratio_below_3": ("ratio_below_3", "warning", 1),
        "corner_below_7": ("corner_below_7", "warning", 1),
        "gone_quiet": ("days_since_last_event >= 30", "warning", 1),
        "diagnostic_below_7": ("diagnostic_below_7", "warning", 1),
        "renewal_unconfirmed": (
            "last_gate_outcome = 'unconfirmed' AND days_since_last_gate >= 14",
            "warning",
            1,
        ),
        "exit_review": ("band = 'at_risk'", "critical", 60),
    }


def test_values_override_defaults(tmp_path):
    config = parse_config(
        {"ingest": {"default_timezone": "Europe/Paris"}, "model": {"bands": {"healthy": 75}}}
    )
    assert config.ingest.default_timezone == "Europe/Paris"
    assert config.model.bands.healthy == 75 and config.model.bands.watch == 50


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ingest": {"default_tz": "UTC"}}, "ingest.default_tz: unknown key"),
        (
            {"ingest": {"default_timezone": "Mars/Base"}},
            "ingest.default_timezone: Value error, unknown time zone 'Mars/Base'",
        ),
        (
            {"model": {"components": {"survey": {"weight": -1}}}},
            "model.components.survey.weight: Input should be greater than or equal to 0",
        ),
        (
            {"model": {"windows": {"activity_days": "ninety"}}},
            "model.windows.activity_days: Input should be a valid integer",
        ),
        (
            {"model": {"bands": {"healthy": 40, "watch": 60}}},
            "model.bands: Value error, watch must not exceed healthy",
        ),
        ({"ingest": {"batch_mb": 0}}, "ingest.batch_mb: Input should be greater than 0"),
        ({"report": {"keep": -1}}, "report.keep: Input should be greater than or equal to 0"),
        ([1, 2], "the top level must be a mapping"),
    ],
)
def test_bad_keys_and_values_are_named_by_dotted_path(data, message):
    with pytest.raises(ConfigError) as error:
        parse_config(data, "corners.yaml")
    assert message in str(error.value)


def test_config_file_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("schedule:\n  cron: '30 3 * * *'\n")
    monkeypatch.setenv("CORNERS_CONFIG", str(path))
    assert load_config().schedule.cron == "30 3 * * *"


def test_cli_reports_a_bad_configuration_and_exits_non_zero(tmp_path):
    path = tmp_path / "corners.yaml"
    path.write_text("ingest:\n  future_tolerance_days: -2\n")
    (tmp_path / "landing").mkdir()
    result = corners(
        "ingest",
        "--config",
        str(path),
        "--home",
        str(tmp_path / "h"),
        "--landing",
        str(tmp_path / "landing"),
    )
    assert result.returncode == 2
    assert "ingest.future_tolerance_days" in result.stderr
    assert "Traceback" not in result.stderr
    missing = corners("ingest", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "configuration file not found" in missing.stderr
