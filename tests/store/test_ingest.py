"""Ingestion into real Delta tables: accounting, idempotency, retries, registry, lineage."""

from __future__ import annotations

import gzip
import shutil

import polars as pl
import pytest

from fitmodel.config import CornersConfig, IngestConfig
from store.home import Home
from store.ingest import accounting, ingest
from tests.helpers import (
    communication,
    corners,
    escalation_opened,
    escalation_resolved,
    line,
    meeting,
    registry_csv,
    survey,
    write_lines,
)

CONFIG = CornersConfig()


def events(home: Home, stream: str) -> pl.DataFrame:
    return pl.read_delta(str(home.events(stream))).sort("event_id")


def test_lines_land_in_exactly_one_place(home, landing):
    write_lines(
        landing / "meetings" / "2024" / "a.jsonl",
        [meeting("m1"), meeting("m2"), meeting("m1"), "{oops", meeting("m3", pid="P9")],
    )
    write_lines(landing / "communications" / "a.jsonl", [communication("c1")])
    report = ingest(home, landing, CONFIG)
    assert report.totals() == {"lines_read": 6, "stored": 3, "duplicates": 1, "quarantined": 2}
    assert events(home, "meetings")["event_id"].to_list() == ["m1", "m2"]
    quarantine = pl.read_delta(str(home.quarantine)).sort("line_number")
    assert quarantine.select("source_file", "line_number", "line").rows() == [
        ("meetings/2024/a.jsonl", 4, "{oops"),
        ("meetings/2024/a.jsonl", 5, write_lines.__globals__["line"](meeting("m3", pid="P9"))),
    ]
    assert quarantine["reasons"].to_list() == [["malformed_json"], ["unknown_partnership"]]
    assert accounting(home)["balanced"].all()


def test_blank_lines_are_skipped_and_line_numbers_are_physical(home, landing):
    path = landing / "meetings" / "a.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('\n   \n{"x": 1}\n\n')
    report = ingest(home, landing, CONFIG)
    assert report.totals()["lines_read"] == 1
    assert pl.read_delta(str(home.quarantine))["line_number"].to_list() == [3]


def test_windows_line_ends_are_read_as_lines(home, landing):
    path = landing / "meetings" / "a.jsonl"
    path.parent.mkdir(parents=True)
    good = write_lines.__globals__["line"](meeting("m1"))
    path.write_bytes(f"{good}\r\n\r\n{{oops\r\n".encode())
    report = ingest(home, landing, CONFIG)
    assert report.totals() == {"lines_read": 2, "stored": 1, "duplicates": 0, "quarantined": 1}
    quarantine = pl.read_delta(str(home.quarantine))
    assert quarantine.select("line_number", "line").rows() == [(3, "{oops")]


def test_the_same_content_under_any_name_is_a_no_op(home, landing):
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1"), "{bad"])
    ingest(home, landing, CONFIG)
    shutil.copy(landing / "meetings" / "a.jsonl", landing / "meetings" / "copy.jsonl")
    report = ingest(home, landing, CONFIG)
    assert report.totals()["lines_read"] == 0
    assert sorted(report.skipped) == ["meetings/a.jsonl", "meetings/copy.jsonl"]
    assert pl.read_delta(str(home.quarantine)).height == 1


def test_gzip_files_are_read(home, landing):
    path = landing / "surveys" / "q1.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress((write_lines.__globals__["line"](survey("s1")) + "\n").encode()))
    ingest(home, landing, CONFIG)
    assert events(home, "surveys")["trust"].to_list() == [8]


def test_events_carry_lineage_and_unknown_fields(home, landing):
    write_lines(
        landing / "escalations" / "x.jsonl",
        [
            escalation_opened("x1", "E1", ticket="T-9"),
            escalation_resolved("x2", "E1"),
        ],
    )
    report = ingest(home, landing, CONFIG)
    stored = events(home, "escalations")
    assert stored["source_file"].unique().to_list() == ["escalations/x.jsonl"]
    assert stored["line_number"].to_list() == [1, 2]
    assert stored["extra"].to_list() == ['{"ticket":"T-9"}', None]
    assert stored["ingested_at"].n_unique() == 1
    assert stored["resolution"].to_list() == [None, "joint"]
    assert report.files["kind"].to_list() == ["file"]


def test_files_are_processed_in_sorted_path_order(home, landing):
    write_lines(landing / "meetings" / "b.jsonl", [meeting("m1", ideas_generated=2)])
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1", ideas_generated=1)])
    ingest(home, landing, CONFIG)
    assert events(home, "meetings")["ideas_generated"].to_list() == [1]
    quarantined = pl.read_delta(str(home.quarantine))
    assert quarantined.select("source_file", "reasons").rows() == [
        ("meetings/b.jsonl", ["conflicting_duplicate"])
    ]


def test_unknown_partnership_lines_are_retried_when_the_registry_knows_them(home, landing):
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1", pid="P3"), meeting("m2")])
    ingest(home, landing, CONFIG)
    assert pl.read_delta(str(home.quarantine)).height == 1
    (landing / "partnerships.csv").write_text(
        registry_csv([("P1", "2024-01-01", ""), ("P3", "2024-01-01", "")])
    )
    report = ingest(home, landing, CONFIG)
    assert report.registry_rows == 2
    assert events(home, "meetings")["event_id"].to_list() == ["m1", "m2"]
    assert pl.read_delta(str(home.quarantine)).height == 0
    assert report.files.select("kind", "lines_read", "stored", "quarantined").rows() == [
        ("retry", 0, 1, -1)
    ]
    assert accounting(home).select("lines_read", "stored", "quarantined").rows() == [(2, 2, 0)]
    # Delta history keeps the quarantine record.
    assert pl.read_delta(str(home.quarantine), version=0)["event_id"].to_list() == ["m1"]


def test_a_retried_line_that_now_conflicts_changes_its_reasons(home, landing):
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1", pid="P3")])
    ingest(home, landing, CONFIG)
    write_lines(landing / "meetings" / "b.jsonl", [meeting("m1", ideas_generated=7)])
    (landing / "partnerships.csv").write_text(
        registry_csv([("P1", "2024-01-01", ""), ("P3", "2024-01-01", "")])
    )
    ingest(home, landing, CONFIG)
    # The retried line goes first: it is stored and the new file's version conflicts.
    assert events(home, "meetings")["partnership_id"].to_list() == ["P3"]
    assert pl.read_delta(str(home.quarantine))["reasons"].to_list() == [["conflicting_duplicate"]]
    assert accounting(home)["balanced"].all()


def test_an_invalid_registry_is_rejected_whole_and_the_previous_one_stays(home, landing):
    ingest(home, landing, CONFIG)
    (landing / "partnerships.csv").write_text(
        registry_csv(
            [
                ("P1", "2024-01-01", ""),
                ("P1", "2024-01-01", ""),
                ("P4", "2024-02-30", ""),
                ("P5", "2024-03-01", "2024-02-01"),
            ]
        )
    )
    report = ingest(home, landing, CONFIG)
    message = "\n".join(report.errors)
    assert "line 2: duplicate partnership_id P1" in message
    assert "line 4: bad date in started_on: 2024-02-30" in message
    assert "line 5: ended_on is before started_on" in message
    assert pl.read_delta(str(home.registry))["partnership_id"].to_list() == ["P1", "P2"]


def test_default_timezone_setting_is_honoured(home, landing):
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1", at="2024-03-01T00:30:00")])
    config = CornersConfig(ingest=IngestConfig(default_timezone="America/New_York"))
    ingest(home, landing, config)
    assert str(events(home, "meetings")["occurred_at"][0]) == "2024-03-01 05:30:00+00:00"


def test_cli_prints_per_file_accounting_and_fails_on_a_missing_folder(tmp_path, landing):
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1"), meeting("m1"), "x"])
    result = corners("ingest", "--home", str(tmp_path / "h"), "--landing", str(landing), check=True)
    assert "meetings/a.jsonl" in result.stdout
    assert "3 lines read = 1 stored + 1 duplicates + 1 quarantined" in result.stdout
    missing = corners("ingest", "--home", str(tmp_path / "h"), "--landing", str(tmp_path / "no"))
    assert missing.returncode == 2
    assert "landing folder not found" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_exits_non_zero_when_the_registry_is_rejected(tmp_path, landing):
    (landing / "partnerships.csv").write_text(registry_csv([("P1", "not-a-date", "")]))
    result = corners("ingest", "--home", str(tmp_path / "h"), "--landing", str(landing))
    assert result.returncode == 1
    assert "line 2: bad date in started_on: not-a-date" in result.stderr


def test_a_file_not_utf8_or_cut_short_is_refused_and_read_once_fixed(home, landing):
    good = [line(meeting("m1")), line(meeting("m2"))]
    path = landing / "meetings" / "a.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(("\n".join(good) + "\n").encode() + b'{"event_id": "caf\xe9"}\n')
    packed = landing / "meetings" / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(b"\n\n" + good[0].encode() + b"\n\xff\n"))
    cut = landing / "meetings" / "c.jsonl.gz"  # a copy that stopped short
    cut.write_bytes(gzip.compress(("\n".join(good) + "\n").encode())[:-12])
    report = ingest(home, landing, CONFIG)
    message = "\n".join(report.errors)
    assert "meetings/c.jsonl.gz: cannot be read:" in message
    assert "meetings/a.jsonl: cannot be read: line 3 is not UTF-8 text (byte" in message
    assert "meetings/b.jsonl.gz: cannot be read: line 4 is not UTF-8 text (uncompressed" in message
    assert report.totals()["lines_read"] == 0  # nothing of either file, and neither recorded
    path.write_text("\n".join(good) + "\n")
    packed.unlink()
    cut.unlink()
    again = ingest(home, landing, CONFIG)
    assert not again.errors and again.totals()["stored"] == 2


def test_a_second_ingest_of_the_same_home_is_refused_while_one_runs(home, landing):
    import fcntl

    from store.ingest import IngestError

    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1")])
    home.root.mkdir(parents=True)
    with open(home.root / ".lock", "w") as held:  # as the other process holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IngestError, match="another corners process is writing to"):
            ingest(home, landing, CONFIG)
    assert ingest(home, landing, CONFIG).totals()["stored"] == 1


# --- hostile input (each case of what the hostile-input review found) ---------------------


def test_envelope_only_lines_are_quarantined_not_lost(home, landing):
    envelope = {"event_id": "v1", "partnership_id": "P1", "occurred_at": "2026-02-01T10:00:00Z"}
    write_lines(
        landing / "communications" / "a.jsonl",
        [envelope, {}, {**envelope, "source": "crm"}, communication("c1")],
    )
    report = ingest(home, landing, CONFIG)
    assert report.totals() == {"lines_read": 4, "stored": 1, "duplicates": 0, "quarantined": 3}
    reasons = pl.read_delta(str(home.quarantine)).sort("line_number")["reasons"].to_list()
    assert reasons[0] == ["missing_field:event_type"]
    assert "missing_field:event_id" in reasons[1] and "missing_field:event_type" in reasons[1]


def test_a_line_that_validation_loses_stops_the_batch_before_anything_is_stored(
    home, landing, monkeypatch
):
    """The accounting counts lines as read, so a validation that drops one is caught, and
    nothing of its batch lands: the next (mended) ingest reads the file again."""
    import store.ingest as ingest_module

    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1"), meeting("m2")])
    real = ingest_module.check_stream
    monkeypatch.setattr(
        ingest_module, "check_stream", lambda lines, *a, **k: real(lines, *a, **k)[1:]
    )
    with pytest.raises(ingest_module.AccountingError, match="1 outcome"):
        ingest(home, landing, CONFIG)
    assert not home.events("meetings").exists()
    monkeypatch.setattr(ingest_module, "check_stream", real)
    assert ingest(home, landing, CONFIG).totals()["stored"] == 2


def test_the_accounting_check_counts_against_the_tables(home, landing):
    from deltalake import DeltaTable

    from store.ingest import AccountingError, check_accounting

    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1"), meeting("m2")])
    ingest(home, landing, CONFIG)
    DeltaTable(str(home.events("meetings"))).delete("event_id = 'm2'")
    with pytest.raises(AccountingError, match="read 2 != stored 1"):
        check_accounting(home)


def test_nested_objects_in_another_key_order_are_a_duplicate(home, landing):
    first = {"meta": {"x": 1, "y": {"b": 2, "a": [{"q": 1, "p": 2}]}}, **meeting("m1")}
    again = {**meeting("m1"), "meta": {"y": {"a": [{"p": 2, "q": 1}], "b": 2}, "x": 1}}
    write_lines(landing / "meetings" / "a.jsonl", [first, again])
    report = ingest(home, landing, CONFIG)
    assert report.totals()["duplicates"] == 1 and report.totals()["quarantined"] == 0
    assert events(home, "meetings")["extra"].to_list() == [
        '{"meta":{"x":1,"y":{"a":[{"p":2,"q":1}],"b":2}}}'
    ]


@pytest.mark.parametrize("batch_mb", [1e-9, 64])
def test_quarantine_reasons_do_not_depend_on_batching_or_repeated_ingests(
    tmp_path, landing, batch_mb
):
    # An unknown partnership's line first, then a valid line with the same id and other content.
    write_lines(landing / "meetings" / "a.jsonl", [meeting("m1", pid="P9")])
    write_lines(landing / "meetings" / "b.jsonl", [meeting("m1", ideas_generated=5)])
    config = CornersConfig(ingest=IngestConfig(batch_mb=batch_mb))
    home = Home(tmp_path / f"home-{batch_mb}")
    for _ in range(3):
        ingest(home, landing, config)
        reasons = pl.read_delta(str(home.quarantine))["reasons"].to_list()
        assert reasons == [["unknown_partnership"]]
    assert events(home, "meetings")["ideas_generated"].to_list() == [5]


def test_dates_no_partnership_can_have_are_refused(home, landing):
    write_lines(
        landing / "meetings" / "a.jsonl",
        [meeting("m1", at="0001-01-01T00:00:00Z"), meeting("m2", at="1899-12-31T23:59:59Z")],
    )
    ingest(home, landing, CONFIG)
    reasons = pl.read_delta(str(home.quarantine))["reasons"].to_list()
    assert reasons == [["invalid_value:occurred_at"], ["invalid_value:occurred_at"]]
    (landing / "partnerships.csv").write_text(
        registry_csv([("P1", "0001-01-01", ""), ("P2", "2024-01-01", "9999-01-01")])
    )
    report = ingest(home, landing, CONFIG)
    message = "\n".join(report.errors)
    assert "line 2: started_on outside 1900-01-01..2999-12-31: 0001-01-01" in message
    assert "line 3: ended_on outside" in message


def test_a_registry_without_partnerships_is_refused(home, landing):
    ingest(home, landing, CONFIG)
    (landing / "partnerships.csv").write_text(registry_csv([]))
    report = ingest(home, landing, CONFIG)
    assert "has no partnerships" in report.errors[0]
    assert pl.read_delta(str(home.registry)).height == 2


def test_a_gzip_bomb_is_refused_before_it_is_expanded(home, landing):
    path = landing / "meetings" / "bomb.jsonl.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wb") as out:
        for _ in range(40):
            out.write(b" " * 1_000_000)
    config = CornersConfig(ingest=IngestConfig(max_file_mb=10))
    report = ingest(home, landing, config)
    assert any("bomb.jsonl.gz" in e and "more than 10 MB uncompressed" in e for e in report.errors)
    # The same under a name without .gz: polars would have expanded it by its magic bytes.
    shutil.move(path, landing / "meetings" / "plain.jsonl")
    report = ingest(home, landing, config)
    assert any("plain.jsonl" in e and "more than 10 MB" in e for e in report.errors)


def test_links_out_of_the_landing_folder_are_refused_and_strays_are_listed(home, landing, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0\n")
    (landing / "meetings").mkdir()
    (landing / "meetings" / "passwd.jsonl").symlink_to(outside)
    (landing / "meetings" / "linked").symlink_to(tmp_path)
    write_lines(landing / "Communications" / "a.jsonl", [communication("c1")])
    write_lines(landing / "meetings" / "x.JSONL", [meeting("m1")])
    report = ingest(home, landing, CONFIG)
    assert any("meetings/passwd.jsonl" in e and "outside" in e for e in report.errors)
    assert any("meetings/linked" in e and "outside" in e for e in report.errors)
    assert not home.quarantine.exists() and report.totals()["lines_read"] == 0
    assert report.ignored == [
        "Communications/a.jsonl: not in a stream folder (meetings, escalations, communications, "
        "surveys, governance)",
        "meetings/x.JSONL: not a .jsonl or .jsonl.gz file",
    ]


def test_the_governance_stream_with_its_strict_gate_on(home, landing):
    from tests.helpers import diagnostic, renewal_decision

    write_lines(
        landing / "governance" / "a.jsonl",
        [
            renewal_decision("g1", "2024-07-01"),
            renewal_decision("g2", 20240701),  # not a string
            renewal_decision("g3", "2024-02-30"),  # no such day
            renewal_decision("g4", "2024-7-1"),  # not YYYY-MM-DD
            renewal_decision("g5", "2024-07-01", decision="maybe"),
            diagnostic("d1", scores=(9, 4, 8, 11)),
            meeting("m1"),  # another stream's event
        ],
    )
    ingest(home, landing, CONFIG)
    stored = events(home, "governance")
    assert stored["event_id"].to_list() == ["g1"]
    assert str(stored["gate_on"][0]) == "2024-07-01"
    reasons = dict(pl.read_delta(str(home.quarantine)).select("event_id", "reasons").iter_rows())
    assert reasons == {
        "g2": ["invalid_type:gate_on"],
        "g3": ["invalid_value:gate_on"],
        "g4": ["invalid_value:gate_on"],
        "g5": ["invalid_value:decision"],
        "d1": ["invalid_value:risk_symmetry"],
        "m1": ["wrong_stream"],
    }
