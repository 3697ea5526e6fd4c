"""The fit-health report: written by every refresh, self-contained, rendered by a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from store.report import CHARTS
from store.sample import write_sample
from tests.helpers import corners

AS_OF = date(2025, 6, 30)
ARTIFACTS_ENV = "CORNERS_ARTIFACTS"
"""Where the browser test leaves its screenshot (`.ci/run` sets it; else the test's folder)."""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.fail("no Chromium on PATH: install Debian's chromium (bash .ci/run does)")


def browse(page, *extra: str, profile) -> subprocess.CompletedProcess:
    """Open `page` in headless Chromium, let its scripts run, and do what `extra` asks."""
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    landing = root / "landing"
    write_sample(landing, partnerships=16, days=300, seed=3, bad_rate=0.01, end=AS_OF)
    home = root / "home"
    args = ("--home", str(home), "--landing", str(landing), "--as-of", AS_OF.isoformat())
    done = corners("refresh", *args, "--quiet", check=True)
    path = home / "reports" / f"{AS_OF}.html"
    assert f"report: {path}" in done.stdout
    return path


def test_every_refresh_writes_a_self_contained_report(report):
    page = report.read_text(encoding="utf-8")
    assert "<title>corners report 2025-06-30</title>" in page
    # Nothing to fetch: no external scripts, styles or images.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "Plotly" in page and len(page) > 3_000_000  # plotly.js is inlined
    for heading in (
        "Partnerships per band over time",
        "Biggest movers of the last 30 days",
        "At risk or degrading",
        "distribution",
        "Open alerts (",
        "Notable restatements",
        "Data quality",
        "Does the fit score predict renewals?",
        "The diagnostic",
        "Gates of the last six months",
        "Quarantined lines by reason",
    ):
        assert heading in page
    assert re.search(r"\d+ of \d+ data-quality checks passed", page)
    assert "malformed_json" in page  # the quarantine chart's data


def test_the_report_renders_its_charts_in_headless_chromium(report, tmp_path):
    dom = browse(report, "--dump-dom", profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for chart in CHARTS:
        found = re.search(rf'<div id="{chart}" class="([^"]*)"', dom.stdout)
        assert found, f"chart {chart} is missing"
        # Plotly marks a div js-plotly-plot once it has drawn the figure into it.
        assert "js-plotly-plot" in found.group(1), f"chart {chart} was not drawn"
    assert dom.stdout.count('class="main-svg"') >= len(CHARTS)

    artifacts = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report.png"
    done = browse(
        report,
        f"--screenshot={shot}",
        "--window-size=1300,4000",
        profile=tmp_path / "profile-shot",
    )
    assert done.returncode == 0 and shot.stat().st_size > 50_000, done.stderr[-2000:]
    print(f"screenshot of the report: {shot}")


def private(report: Path, tmp_path: Path) -> Path:
    """A copy of the report's home and landing, for a test that changes them; returns the
    copy's report path."""
    shutil.copytree(report.parent.parent.parent, tmp_path / "copy")
    return tmp_path / "copy" / "home" / "reports" / report.name


def test_the_report_lists_days_that_late_events_restated(report, tmp_path):
    from datetime import timedelta

    from tests.helpers import survey, write_lines

    report = private(report, tmp_path)
    home = report.parent.parent
    landing = home.parent / "landing"
    late = AS_OF - timedelta(days=10)
    write_lines(
        landing / "surveys" / "late" / "late.jsonl",
        [
            survey(f"late-{i}", pid="P00002", at=f"{late}T09:00:00Z", scores=(1, 1, 1, 1))
            for i in range(3)
        ],
    )
    args = ("--home", str(home), "--landing", str(landing), "--as-of", AS_OF.isoformat())
    corners("refresh", *args, "--quiet", check=True)
    page = report.read_text(encoding="utf-8")
    section = page[page.index("Notable restatements") : page.index("<h2>Data quality")]
    assert "<table>" in section and "P00002" in section
    assert f"<td>{late}</td>" in section  # the first restated day


def test_only_the_reports_of_the_latest_days_are_kept(report, tmp_path):
    report = private(report, tmp_path)
    folder = report.parent
    for day in ("2025-06-27", "2025-06-28", "2025-06-29"):
        (folder / f"{day}.html").write_text("an older report")
    (folder / "notes.html").write_text("not a report: never removed")
    config = tmp_path / "corners.yaml"
    config.write_text("report:\n  keep: 2\n")
    home = str(folder.parent)
    corners("report", "--home", home, "--config", str(config), "--as-of", "2025-06-29", check=True)
    assert sorted(p.name for p in folder.iterdir()) == [
        "2025-06-29.html",
        "2025-06-30.html",
        "notes.html",
    ]
    assert (folder / "2025-06-29.html").stat().st_size > 1_000_000  # written again
    # A report asked for an older day is written even so; the latest two stay.
    corners("report", "--home", home, "--config", str(config), "--as-of", "2025-06-20", check=True)
    assert sorted(p.name for p in folder.glob("2025-*.html")) == [
        "2025-06-20.html",
        "2025-06-29.html",
        "2025-06-30.html",
    ]


def test_the_report_names_the_configured_windows(report, tmp_path):
    from fitmodel.config import parse_config
    from store.home import Home
    from store.report import build_report

    report = private(report, tmp_path)
    windows = {"trend_days": 45, "survey_days": 90}
    config = parse_config({"model": {"windows": windows}})
    page = build_report(Home(report.parent.parent), config, AS_OF).read_text(encoding="utf-8")
    assert "Biggest movers of the last 45 days" in page
    assert "fit score change over 45 days" in page
    assert "corner mean (90 days)" in page
    assert "30 days (bar" not in page and "(120 days)" not in page
