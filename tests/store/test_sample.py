"""The sample landing folder: deterministic, realistic, and with every kind of bad line."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl

from fitmodel.config import CornersConfig
from store.home import Home
from store.ingest import ingest
from store.sample import TRAJECTORIES, write_sample

END = date(2025, 6, 30)


def digest(folder) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def test_the_same_seed_writes_the_same_files(tmp_path):
    write_sample(tmp_path / "a", partnerships=8, days=60, seed=3, bad_rate=0.05, end=END)
    write_sample(tmp_path / "b", partnerships=8, days=60, seed=3, bad_rate=0.05, end=END)
    write_sample(tmp_path / "c", partnerships=8, days=60, seed=4, bad_rate=0.05, end=END)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_a_sample_ingests_with_every_kind_of_bad_line(tmp_path):
    summary = write_sample(
        tmp_path / "land", partnerships=12, days=200, seed=1, bad_rate=0.03, end=END
    )
    assert summary.partnerships == 12 and summary.lines > summary.events * 0.9
    home = Home(tmp_path / "home")
    report = ingest(home, tmp_path / "land", CornersConfig())
    totals = report.totals()
    assert totals["lines_read"] == summary.lines
    assert totals["duplicates"] > 0  # re-sent copies
    reasons = set(pl.read_delta(str(home.quarantine))["reasons"].explode().to_list())
    assert {
        "malformed_json",
        "missing_field:event_id",
        "invalid_type:partnership_id",
        "invalid_value:event_type",
        "naive_timestamp",
        "future_timestamp",
        "wrong_stream",
        "unknown_partnership",
        "conflicting_duplicate",
    } <= reasons
    for stream in ("meetings", "escalations", "communications", "surveys"):
        assert pl.read_delta(str(home.events(stream))).height > 0
    # Late deliveries: some events arrive in a file of a later week than they occurred.
    meetings = pl.read_delta(str(home.events("meetings")))
    week = pl.col("source_file").str.extract(r"(\d{4}-\d{2}-\d{2})").str.to_date()
    assert meetings.filter(pl.col("occurred_at").dt.date() < week).height > 0


def test_trajectories_differ_in_activity(tmp_path):
    write_sample(tmp_path / "land", partnerships=len(TRAJECTORIES), days=300, seed=2, end=END)
    home = Home(tmp_path / "home")
    ingest(home, tmp_path / "land", CornersConfig())
    escalations = (
        pl.read_delta(str(home.events("escalations")))
        .filter(pl.col("event_type") == "escalation_opened")
        .group_by("partnership_id")
        .len()
    )
    by_id = dict(escalations.iter_rows())
    # P00001 healthy, P00006 escalation-heavy.
    assert by_id.get("P00006", 0) > 3 * by_id.get("P00001", 0)
    comms = pl.read_delta(str(home.events("communications")))
    late = (
        comms.filter(pl.col("occurred_at").dt.date() > date(2025, 5, 1))
        .group_by("partnership_id")
        .len()
    )
    quiet = dict(late.iter_rows()).get("P00005", 0)
    assert quiet < 5  # the quiet partnership has gone silent


def test_a_tiny_sample_without_every_kind_of_event_is_still_written(tmp_path):
    summary = write_sample(tmp_path / "landing", partnerships=1, days=5, seed=2)
    assert summary.partnerships == 1 and summary.lines > 0
