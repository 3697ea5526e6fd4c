"""Each blocking check, made to fail by a defect injected into a real refresh, stops what it
guards: a failing candidate check publishes nothing, a failing alerts check notifies no one."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest

from assets.resources import CornersResource
from pipelines.definitions import CHECKS
from pipelines.run import run_refresh
from store import alerts as alerts_store
from store import delta
from store import publish as rf
from store.home import Home
from store.sample import write_sample

AS_OF = date(2025, 6, 30)
NEXT = AS_OF + timedelta(days=1)


@pytest.fixture(scope="module")
def published_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("blocking")
    landing = root / "landing"
    write_sample(landing, partnerships=6, days=260, seed=4, end=AS_OF)  # with gates
    home = Home(root / "home")
    resource = CornersResource(home=str(home.root), landing=str(landing))
    assert run_refresh(resource, as_of=AS_OF).success
    return home, landing


def _first(rows: pl.DataFrame, name: str, value) -> pl.DataFrame:
    first = pl.int_range(pl.len()) == 0
    return rows.with_columns(pl.when(first).then(value).otherwise(pl.col(name)).alias(name))


CANDIDATE_DEFECTS = {
    "fit_health_one_row_per_partnership_day": lambda r: pl.concat([r, r.head(1)]),
    "fit_health_scores_between_0_and_100": lambda r: _first(r, "innovation_score", 150.0),
    "fit_health_scores_are_numbers": lambda r: _first(r, "fit_score", float("nan")),
    "fit_health_band_matches_fit_score": lambda r: _first(r, "band", pl.lit("no_such_band")),
    "fit_health_fit_score_matches_components": lambda r: _first(r, "fit_score", 0.0),
    "fit_health_no_missing_days": lambda r: r.filter(
        ~((pl.col("partnership_id") == "P00001") & (pl.col("as_of") == AS_OF))
    ),
    "fit_health_covers_as_of": lambda r: r.filter(
        ~((pl.col("partnership_id") == "P00001") & (pl.col("as_of") == NEXT))
    ),
    "fit_health_keeps_published_partnerships": lambda r: r.filter(
        pl.col("partnership_id") != "P00002"
    ),
}


def test_every_blocking_check_is_made_to_fail_here():
    blocking = {s.name for group in CHECKS for s in group.check_specs if s.blocking}
    assert blocking == set(CANDIDATE_DEFECTS) | set(RENEWAL_DEFECTS) | {
        "alerts_one_open_episode_per_partnership_and_rule",
        "alerts_open_alerts_refer_to_registered_partnerships",
    }


@pytest.mark.parametrize("check", list(CANDIDATE_DEFECTS))
def test_a_failing_candidate_check_publishes_nothing(published_home, tmp_path, monkeypatch, check):
    home, landing = published_home
    copy = Home(tmp_path / "home")
    shutil.copytree(home.root, copy.root)
    before = delta.version(copy.path("fit_health"))
    real = rf.compute_candidate
    monkeypatch.setattr(
        rf, "compute_candidate", lambda *a, **k: CANDIDATE_DEFECTS[check](real(*a, **k))
    )
    rebuild = check in ("fit_health_keeps_published_partnerships", "fit_health_no_missing_days")
    resource = CornersResource(home=str(copy.root), landing=str(landing))
    outcome = run_refresh(resource, as_of=AS_OF if rebuild else NEXT, rebuild=rebuild)
    assert not outcome.published and outcome.blocking_failed
    assert any(f"check {check} failed" in text for text in outcome.failed_checks)
    assert delta.version(copy.path("fit_health")) == before


@pytest.mark.parametrize(
    ("check", "extra"),
    [
        ("alerts_one_open_episode_per_partnership_and_rule", "P00001"),
        ("alerts_open_alerts_refer_to_registered_partnerships", "P99999"),
    ],
)
def test_a_failing_alerts_check_notifies_no_one(
    published_home, tmp_path, monkeypatch, check, extra
):
    home, landing = published_home
    copy = Home(tmp_path / "home")
    shutil.copytree(home.root, copy.root)
    rounds = delta.scan_table(copy, "notification_runs").collect().height
    real = alerts_store.project

    def defective(*args, **kwargs):
        table = real(*args, **kwargs)
        bogus = [
            table.row(0, named=True)
            | {
                "alert_id": f"{extra}:at_risk:2020-01-0{i}",
                "partnership_id": extra,
                "rule": "at_risk",
                "status": "open",
                "resolved_on": None,
            }
            for i in (1, 2)
        ]
        return pl.concat([table, pl.DataFrame(bogus, schema=table.schema)])

    monkeypatch.setattr(alerts_store, "project", defective)
    resource = CornersResource(home=str(copy.root), landing=str(landing))
    outcome = run_refresh(resource, as_of=AS_OF, rebuild=True)
    assert outcome.blocking_failed and not outcome.success
    assert any(f"check {check} failed" in text for text in outcome.failed_checks)
    assert delta.scan_table(copy, "notification_runs").collect().height == rounds


RENEWAL_DEFECTS = {
    "renewal_gates_one_row_per_partnership_and_gate": lambda r: replace(
        r, gates=pl.concat([r.gates, r.gates.head(1)])
    ),
    "renewal_gates_outcome_matches_the_standing_decisions": lambda r: replace(
        r,
        gates=_first(r.gates, "outcome", pl.lit("reaffirmed")).with_columns(
            pl.lit("exit").alias("decision_a")
        ),
    ),
    "validation_counts_add_up": lambda r: replace(
        r, validation=r.validation.with_columns(pl.col("failures") + 1000)
    ),
    "validation_auc_between_0_and_1": lambda r: replace(
        r, validation=r.validation.with_columns(pl.lit(1.5).alias("auc"))
    ),
}


@pytest.mark.parametrize("check", list(RENEWAL_DEFECTS))
def test_a_failing_renewal_check_publishes_no_gates(published_home, tmp_path, monkeypatch, check):
    from store import renewals

    home, landing = published_home
    copy = Home(tmp_path / "home")
    shutil.copytree(home.root, copy.root)
    before = delta.version(copy.path("validation"))
    real = renewals.compute
    monkeypatch.setattr(renewals, "compute", lambda *a, **k: RENEWAL_DEFECTS[check](real(*a, **k)))
    resource = CornersResource(home=str(copy.root), landing=str(landing))
    outcome = run_refresh(resource, as_of=AS_OF, rebuild=True)
    assert outcome.blocking_failed
    assert any(f"check {check} failed" in text for text in outcome.failed_checks)
    assert delta.version(copy.path("validation")) == before
