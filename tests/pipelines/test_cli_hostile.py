"""The command line as a careless or hostile user meets it: every refusal is one clear line
naming what is wrong, with a non-zero exit, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from store.catalog import CATALOG
from store.query import VIEWS
from store.sample import write_sample
from tests.helpers import corners

AS_OF = date(2025, 6, 30)


def refused(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, one-line reasons naming every needle, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-cli")
    landing = root / "landing"
    write_sample(landing, partnerships=4, days=90, seed=2, bad_rate=0.02, end=AS_OF)
    home = root / "home"
    corners("refresh", "--home", str(home), "--landing", str(landing), "--as-of",
            str(AS_OF), "--quiet", check=True)  # fmt: skip
    return home, landing


def own(published, tmp_path):
    home, landing = published
    shutil.copytree(home, tmp_path / "home")
    shutil.copytree(landing, tmp_path / "landing")
    return tmp_path / "home", tmp_path / "landing"


def test_a_read_only_home_is_named_not_traced(published, tmp_path):
    home, landing = own(published, tmp_path)
    locked = subprocess.run(["chattr", "-R", "+i", str(home)], capture_output=True, text=True)
    assert locked.returncode == 0, f"chattr is needed to make a home read-only: {locked.stderr}"
    try:
        h = ("--home", str(home))
        refused(corners("ingest", *h, "--landing", str(landing), "--quiet"), str(home))
        refused(corners("refresh", *h, "--landing", str(landing), "--as-of", str(AS_OF)), str(home))
        refused(corners("report", *h), str(home))
        alert = corners("query", "select alert_id from alerts limit 1", *h, "--format", "csv")
        alert_id = alert.stdout.splitlines()[1]
        refused(corners("alerts", *h, "ack", alert_id), str(home))
    finally:
        subprocess.run(["chattr", "-R", "-i", str(home)], check=True)


def test_a_home_that_is_a_file_is_refused(tmp_path):
    file = tmp_path / "home"
    file.write_text("not a folder")
    for command in (["ingest"], ["alerts"], ["query", "select 1"], ["rebuild"]):
        refused(corners(*command, "--home", str(file)), f"{file} is a file, not a folder")


def test_query_refusals_and_csv_of_lists(published, tmp_path):
    home, _ = published
    h = ("--home", str(home))
    refused(corners("query", "", *h), "the query is empty")
    refused(corners("query", "select nope from fit_health", *h), "nope")
    out = tmp_path / "missing" / "q.csv"
    refused(corners("query", "select 1", *h, "--format", "csv", "--output", str(out)),
            f"the folder {out.parent} does not exist")  # fmt: skip
    csv = corners("query", "SELECT * FROM quarantine", *h, "--format", "csv", check=True)
    assert csv.stdout.startswith("stream,") and '["' in csv.stdout  # reasons as JSON text


def test_every_table_is_queryable_on_a_fresh_home(tmp_path):
    for name in [*CATALOG, *VIEWS]:
        done = corners("query", f"select count(*) as n from {name}", "--home",
                       str(tmp_path / "fresh"), "--format", "csv", check=True)  # fmt: skip
        assert done.stdout.splitlines() == ["n", "0"], name


@pytest.mark.parametrize("args", [["explain", "P00001"], ["report"], ["rebuild"]])
def test_what_needs_a_publication_says_so_on_a_fresh_home(tmp_path, args):
    done = corners(*args, "--home", str(tmp_path / "fresh"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "refresh" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["explain", "P00001", "--days", "1000000"], "--days"),
        (["explain", "P00001", "--days", "-3"], "--days"),
        (["explain", "P00001", "--drivers", "-1"], "--drivers"),
        (["explain", "P00001", "--as-of", "0001-01-01"], "outside 1900-01-01"),
        (["refresh", "--as-of", "0001-01-01"], "outside 1900-01-01"),
        (["refresh", "--as-of", "31/12/2025"], "not an ISO date"),
    ],
)
def test_bad_values_of_options_are_refused(published, args, needle):
    home, landing = published
    refused(corners(*args, "--home", str(home), "--landing", str(landing)), needle)


def test_an_as_of_in_the_future_or_before_the_last_one_is_refused(published, tmp_path):
    home, landing = own(published, tmp_path)
    common = ("--home", str(home), "--landing", str(landing), "--quiet")
    later = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()
    refused(corners("refresh", "--as-of", later, *common), "after today", "--allow-future")
    earlier = (AS_OF - timedelta(days=30)).isoformat()
    refused(corners("refresh", "--as-of", earlier, *common),
            "before the last published as_of", f"corners rebuild --as-of {earlier}")  # fmt: skip
    rebuilt = corners("rebuild", "--as-of", earlier, *common, check=True)
    assert f"published fit_health through {earlier}" in rebuilt.stdout


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ingest:\n  future_tolerance_days: .inf\n", "ingest.future_tolerance_days"),
        ("model:\n  min_weight: 0.5\n  min_weight: 0.6\n", "found the key 'min_weight' twice"),
        ("schedule:\n  cron: '61 * * * *'\n", "schedule.cron"),
        ("model:\n  min_weight: 0\n", "model.min_weight"),
        ("alerts:\n  rules:\n    x y: {when: 'fit_score < 5'}\n", "identifier"),
    ],
)
def test_a_careless_configuration_is_refused_naming_the_key(tmp_path, text, needle):
    config = tmp_path / "corners.yaml"
    config.write_text(text)
    refused(corners("ingest", "--home", str(tmp_path / "h"), "--config", str(config)), needle)
    config.write_bytes(b"model:\n  min_weight: \xff\n")
    refused(corners("ingest", "--config", str(config)), str(config), "not UTF-8")


def test_a_rule_that_fails_on_the_data_is_one_line_naming_it(published, tmp_path):
    home, _ = own(published, tmp_path)
    config = tmp_path / "corners.yaml"
    config.write_text("alerts:\n  rules:\n    casts: {when: 'CAST(name AS INTEGER) > 0'}\n")
    result = corners("rebuild", "--home", str(home), "--config", str(config), "--quiet")
    refused(result, "alert rule 'casts' failed on the fit_health rows")
    assert len(result.stderr.splitlines()) <= 4, result.stderr


def test_a_rebuild_reads_no_landing_folder(published, tmp_path):
    home, landing = own(published, tmp_path)
    shutil.rmtree(landing)
    done = corners("rebuild", "--home", str(home), "--quiet", check=True)
    assert f"published fit_health through {AS_OF} (rebuild" in done.stdout


def test_files_outside_the_stream_folders_are_listed_as_ignored(tmp_path, landing):
    (landing / "Communications").mkdir()
    (landing / "Communications" / "a.jsonl").write_text("{}\n")
    (landing / "notes.txt").write_text("hello\n")
    done = corners("ingest", "--home", str(tmp_path / "h"), "--landing", str(landing), check=True)
    assert "ignored: Communications/a.jsonl: not in a stream folder" in done.stderr
    assert "ignored: notes.txt: not in a stream folder" in done.stderr


def test_an_unexpected_error_says_what_failed_and_where_its_traceback_is(
    monkeypatch, tmp_path, capsys
):
    import sys
    import tempfile
    import types

    import click

    from pipelines.cli import app

    @click.command()
    def broken():
        raise RuntimeError("a defect in corners\nits second line")

    module = types.ModuleType("broken_command")
    module.broken = broken
    monkeypatch.setitem(sys.modules, "broken_command", module)
    monkeypatch.setitem(app.COMMANDS, "broken", ("broken_command", "a command with a bug"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert app.main(["broken"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "corners: internal error: RuntimeError: a defect in corners"
    written = next(tmp_path.glob("corners-*.traceback"))
    assert err[1] == f"corners: the traceback is in {written}; please report it"
    assert len(err) == 2
    text = written.read_text()
    assert text.startswith("Traceback") and "RuntimeError: a defect in corners" in text
