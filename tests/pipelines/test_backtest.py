"""`corners backtest` (SPEC §11): the history replayed under a candidate configuration,
beside what is published, without touching what is published, notified or run."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml

from fitmodel.config import DEFAULT_RULES
from pipelines.instance import instance
from store import backtest, delta
from store.backtest_report import CHARTS
from store.home import Home
from store.layout import BACKTEST_LOCK
from store.sample import write_sample
from store.settings import load_config
from tests.helpers import corners
from tests.store.test_report import browse

AS_OF = date(2025, 9, 30)
TABLES = ("fit_health", "alerts", "renewal_gates", "validation")


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Home:
    """A home refreshed once through AS_OF (sample data with renewal decisions)."""
    root = tmp_path_factory.mktemp("backtest")
    write_sample(root / "landing", partnerships=24, days=540, seed=11, end=AS_OF)
    home = root / "home"
    corners("refresh", "--home", str(home), "--landing", str(root / "landing"),
            "--as-of", AS_OF.isoformat(), "--quiet", check=True)  # fmt: skip
    return Home(home)


def _copy(home: Home, tmp_path: Path) -> Home:
    """A private copy of the home, for a test that writes into it."""
    shutil.copytree(home.root, tmp_path / "home")
    return Home(tmp_path / "home")


def _candidate(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _rows(path: Path, table: str) -> pl.DataFrame:
    frame = pl.read_delta(str(path))
    keys = {"fit_health": ["partnership_id", "as_of"], "alerts": ["alert_id"],
            "renewal_gates": ["partnership_id", "gate_on"], "validation": ["horizon_days"]}  # fmt: skip
    return frame.drop("computed_at", strict=False).sort(keys[table])


def _state(home: Home) -> dict:
    """What a backtest must leave alone: every file under published/ and notifications/
    (path, size, modification time), and the Dagster runs of the home."""
    files = {
        str(p.relative_to(home.root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for folder in ("published", "notifications", "candidate")
        for p in sorted((home.root / folder).rglob("*"))
        if p.is_file()
    }
    with instance(home) as dagster:
        runs = [(r.dagster_run.run_id, r.dagster_run.status) for r in dagster.get_run_records()]
    return {"files": files, "runs": runs}


def _episodes_of(fit_health: pl.DataFrame, holds: pl.Expr) -> int:
    """Runs of consecutive days on which `holds` does (null does not), counted directly."""
    on = fit_health.sort("partnership_id", "as_of").with_columns(holds.fill_null(False).alias("h"))
    starts = on.with_columns(
        (pl.col("h") & ~pl.col("h").shift(1, fill_value=False).over("partnership_id")).alias("s")
    )
    return int(starts["s"].sum())


def test_the_configuration_in_force_replays_to_what_is_published(published, tmp_path):
    home = _copy(published, tmp_path)
    before = _state(home)
    same = _candidate(tmp_path, "same", {})  # the defaults, as the home was refreshed
    done = corners("backtest", "--home", str(home.root), "--config", str(same), check=True)
    assert "no difference from what is published" in done.stdout
    assert "every partnership keeps its band" in done.stdout
    target = backtest.backtest_home(home, "same")
    for table in TABLES:
        assert _rows(target.path(table), table).equals(_rows(home.path(table), table)), table
    comparison = backtest.load(home, "same")
    assert not comparison.differs and comparison.as_of == AS_OF
    assert comparison.episodes_by_rule["difference"].abs().sum() == 0
    assert (
        comparison.episodes_by_rule["current"].sum()
        == pl.read_delta(str(home.path("alerts"))).height
    )
    # The cross-tab is diagonal: every partnership keeps its band.
    bands = comparison.bands
    for row in bands.iter_rows(named=True):
        assert all(v == 0 for k, v in row.items() if k not in ("band_current", row["band_current"]))
    # Nothing published, notified, or run in Dagster's name.
    assert _state(home) == before


def test_other_weights_give_what_a_rebuild_under_them_publishes(published, tmp_path):
    home = _copy(published, tmp_path / "a")
    weights = {"model": {"components": {
        "responsiveness": {"weight": 0.3, "bad": 30.0, "good": 2.0},
        "survey": {"weight": 0.2, "bad": 1.0, "good": 10.0},
    }}}  # fmt: skip
    candidate = _candidate(tmp_path, "weights", weights)
    done = corners("backtest", "--home", str(home.root), "--config", str(candidate),
                   "--name", "heavier", check=True)  # fmt: skip
    assert "the candidate differs from what is published" in done.stdout

    # The same candidate adopted in a copy of the home, and the history rebuilt.
    adopted = _copy(published, tmp_path / "b")
    corners("--config", str(candidate), "rebuild", "--home", str(adopted.root),
            "--as-of", AS_OF.isoformat(), "--quiet", check=True)  # fmt: skip
    target = backtest.backtest_home(home, "heavier")
    for table in TABLES:
        assert _rows(target.path(table), table).equals(_rows(adopted.path(table), table)), table

    comparison = backtest.load(home, "heavier")
    latest_now = pl.read_delta(str(home.path("fit_health"))).filter(pl.col("as_of") == AS_OF)
    latest_then = pl.read_delta(str(adopted.path("fit_health"))).filter(pl.col("as_of") == AS_OF)
    moved = latest_now.join(latest_then, on="partnership_id", suffix="_c").filter(
        pl.col("band") != pl.col("band_c")
    )
    assert sorted(comparison.moved["partnership_id"]) == sorted(moved["partnership_id"])
    assert comparison.bands.drop("band_current").sum_horizontal().sum() == latest_now.height
    now = pl.read_delta(str(home.path("validation"))).sort("horizon_days")
    then = pl.read_delta(str(adopted.path("validation"))).sort("horizon_days")
    assert comparison.validation["auc_current"].to_list() == now["auc"].to_list()
    assert comparison.validation["auc_candidate"].to_list() == then["auc"].to_list()
    # The printed comparison carries the figures side by side.
    assert "validation (SPEC §10), current vs candidate" in done.stdout
    assert f"partnerships in another band on {AS_OF}: {moved.height}" in done.stdout


def test_an_extra_rule_shows_exactly_its_own_episodes(published, tmp_path):
    home = _copy(published, tmp_path)
    rules = {name: rule.model_dump(mode="json") for name, rule in DEFAULT_RULES.items()}
    rules["low_score"] = {"when": "fit_score < 45", "severity": "warning"}
    candidate = _candidate(tmp_path, "extra-rule", {"alerts": {"rules": rules}})
    corners("backtest", "--home", str(home.root), "--config", str(candidate), check=True)
    comparison = backtest.load(home, "extra-rule")
    changed = comparison.episodes_by_rule.filter(pl.col("difference") != 0)
    expected = _episodes_of(pl.read_delta(str(home.path("fit_health"))), pl.col("fit_score") < 45)
    assert expected > 0
    assert changed.rows() == [("low_score", 0, expected, expected)]
    candidate_alerts = _rows(backtest.backtest_home(home, "extra-rule").path("alerts"), "alerts")
    assert candidate_alerts.filter(pl.col("rule") != "low_score").equals(
        _rows(home.path("alerts"), "alerts")
    )
    assert comparison.moved.is_empty()


def test_results_are_listed_and_queryable(published, tmp_path):
    home = _copy(published, tmp_path)
    candidate = _candidate(tmp_path, "q3-weights", {"validation": {"horizons_days": [30, 180]}})
    corners("backtest", "--home", str(home.root), "--config", str(candidate), check=True)
    listed = corners("backtest", "--list", "--home", str(home.root), check=True).stdout
    assert "q3-weights" in listed and str(AS_OF) in listed
    query = (
        'SELECT horizon_days, auc_candidate FROM backtests."q3-weights".compare_validation '
        "ORDER BY 1"
    )
    out = corners("query", query, "--home", str(home.root), "--format", "csv", check=True)
    assert [line.split(",")[0] for line in out.stdout.splitlines()] == [
        "horizon_days", "30", "60", "90", "180"
    ]  # fmt: skip
    rows = corners("query", 'SELECT count(*) AS n FROM backtests."q3-weights".fit_health',
                   "--home", str(home.root), "--format", "csv", check=True)  # fmt: skip
    assert rows.stdout.splitlines()[1] == str(pl.read_delta(str(home.path("fit_health"))).height)
    horizons = pl.read_delta(str(backtest.backtest_home(home, "q3-weights").path("validation")))
    assert sorted(horizons["horizon_days"]) == [30, 180]


def test_careless_candidates_and_names_are_refused_before_any_work(published, tmp_path):
    home = _copy(published, tmp_path)
    args = ("--home", str(home.root))
    bad = _candidate(tmp_path, "bad", {"model": {"components": {"survey": {"weight": "heavy"}}}})
    done = corners("backtest", *args, "--config", str(bad))
    assert done.returncode == 2 and "model.components.survey.weight" in done.stderr
    assert "Traceback" not in done.stderr

    other = _candidate(tmp_path, "other", {"ingest": {"batch_mb": 8}, "report": {"keep": 3}})
    done = corners("backtest", *args, "--config", str(other))
    assert done.returncode == 2 and "does not replay" in done.stderr
    assert "ingest.batch_mb" in done.stderr

    same = _candidate(tmp_path, "same", {})
    done = corners("backtest", *args, "--config", str(same), "--name", "../escape")
    assert done.returncode == 2 and "backtest name '../escape'" in done.stderr
    for name in ("a b", "x" * 65, "-dash", "", "a.b", 'q"uote'):
        with pytest.raises(backtest.BacktestError):
            backtest.backtest_home(home, name)
    assert not (home.root / "backtests").exists() and not (home.root.parent / "escape").exists()

    missing = corners("backtest", *args, "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "configuration file not found" in missing.stderr
    nothing = corners("backtest", "--home", str(tmp_path / "empty"), "--config", str(same))
    assert nothing.returncode == 2 and "nothing published" in nothing.stderr


def test_a_backtest_and_a_refresh_never_interleave(published, tmp_path):
    home = _copy(published, tmp_path)
    same = _candidate(tmp_path, "same", {})
    # A refresh from the command line in progress (its lock held): the backtest is refused.
    with delta.exclusive(home.root / ".refresh.lock", RuntimeError("held")):
        done = corners("backtest", "--home", str(home.root), "--config", str(same))
    assert done.returncode == 2 and "is using" in done.stderr
    assert not backtest.backtest_home(home, "same").root.exists()

    # A backtest in progress (its lock held): a refresh run stops before writing anything.
    before = delta.version(home.path("fit_health"))
    with delta.exclusive(home.root / BACKTEST_LOCK, RuntimeError("held")):
        done = corners("rebuild", "--home", str(home.root), "--as-of", AS_OF.isoformat())
    assert done.returncode != 0 and "a backtest is reading" in done.stderr
    assert delta.version(home.path("fit_health")) == before


def test_the_report_draws_every_chart_in_headless_chromium(published, tmp_path):
    home = _copy(published, tmp_path)
    candidate = _candidate(tmp_path, "weights", {"model": {"components": {
        "responsiveness": {"weight": 0.3, "bad": 30.0, "good": 2.0}}}})  # fmt: skip
    done = corners("backtest", "--home", str(home.root), "--config", str(candidate), check=True)
    page = backtest.backtest_home(home, "weights").root / "report.html"
    assert f"report: {page}" in done.stdout
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)  # nothing to fetch
    dom = browse(page, "--dump-dom", profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for chart in CHARTS:
        found = re.search(rf'<div id="{chart}" class="([^"]*)"', dom.stdout)
        assert found and "js-plotly-plot" in found.group(1), f"chart {chart} was not drawn"


def test_the_python_api_gives_the_comparison_as_frames(published, tmp_path):
    home = _copy(published, tmp_path)
    current = load_config(None)
    data = current.model_dump(mode="json")
    data["model"]["components"]["engagement"]["weight"] = 0.4
    from fitmodel.config import parse_config

    candidate = parse_config(data, "notebook", {})
    run = backtest.run(home, current, candidate, "notebook")
    assert run.as_of == AS_OF and run.rows == pl.read_delta(str(home.path("fit_health"))).height
    comparison = backtest.compare(home, "notebook", current, candidate)
    assert comparison.differs
    assert set(comparison.validation.columns) >= {"horizon_days", "auc_current", "auc_candidate"}
    assert comparison.moved.columns == [
        "partnership_id", "name", "fit_score_current", "band_current", "fit_score_candidate",
        "band_candidate", "moved_by",
    ]  # fmt: skip
    if comparison.moved.height:
        assert comparison.moved["moved_by"].str.contains("engagement").any()


def test_the_candidate_in_the_help_is_one_a_backtest_accepts(tmp_path):
    from fitmodel.config import CornersConfig
    from pipelines.cli.backtest import CANDIDATE_EXAMPLE

    path = tmp_path / "example.yaml"
    path.write_text(CANDIDATE_EXAMPLE)
    candidate = load_config(path)
    assert backtest.not_replayed(CornersConfig(), candidate) == []
    assert candidate.model.components.responsiveness.weight == 0.30
    shown = corners("backtest", "--help", check=True).stdout
    assert "responsiveness: {bad: 30, good: 2, weight: 0.30}" in shown
