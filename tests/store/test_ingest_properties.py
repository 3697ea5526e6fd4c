"""Property: however lines are mixed, split into files and re-delivered, accounting holds and
the store is the same (SPEC §2)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitmodel.config import CornersConfig
from store.home import Home
from store.ingest import accounting, ingest
from tests.helpers import communication, line, meeting, write_registry

# A fixed pool: each event id has one content, so the store cannot depend on order.
VALID = [meeting(f"m{i}", ideas_generated=i % 4) for i in range(8)] + [
    communication(f"c{i}", initiated_by="ab"[i % 2]) for i in range(6)
]
INVALID = [
    "{broken",
    '"text"',
    line(meeting("bad1", duration_minutes=2.5)),
    line(meeting("bad2", at="2024-03-01T10:00:00")),
    line(meeting("bad3", pid="P-NOBODY")),
    line(communication("bad4", channel="pigeon")),
]
POOL = [("meetings" if e["event_type"] == "meeting" else "communications", line(e)) for e in VALID]
POOL += [("meetings", text) for text in INVALID]

deliveries = st.lists(
    st.lists(  # one ingest: files of lines drawn from the pool (repeats are re-sent copies)
        st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=12),
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=3,
)


def stored_events(home: Home) -> set[str]:
    ids: set[str] = set()
    for stream in ("meetings", "communications"):
        path = home.events(stream)
        if path.exists():
            ids |= set(pl.read_delta(str(path))["event_id"].to_list())
    return ids


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries=deliveries)
def test_accounting_holds_and_the_store_is_order_independent(deliveries):
    root = Path(tempfile.mkdtemp())
    try:
        landing = root / "landing"
        write_registry(landing, ids=("P1",))
        home = Home(root / "home")
        seen: set[int] = set()
        total_read = 0
        for n, delivery in enumerate(deliveries):
            for f, picks in enumerate(delivery):
                for stream in ("meetings", "communications"):
                    lines = [POOL[i][1] for i in picks if POOL[i][0] == stream]
                    if lines:
                        path = landing / stream / f"d{n}" / f"f{f}.jsonl"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text("\n".join(lines) + "\n")
                seen |= set(picks)
            report = ingest(home, landing, CornersConfig())
            total_read += report.totals()["lines_read"]
            table = accounting(home)
            assert table["balanced"].all()
        expected = {
            e["event_id"]
            for i, (_, text) in enumerate(POOL)
            if i in seen and i < len(VALID)
            for e in [VALID[i]]
        }
        assert stored_events(home) == expected
        quarantined = pl.read_delta(str(home.quarantine)).height if home.quarantine.exists() else 0
        table = accounting(home)
        assert table["lines_read"].sum() == total_read
        # Identical re-sent files are no-ops, so duplicates come from repeats within new files.
        assert table["stored"].sum() + table["duplicates"].sum() + quarantined == total_read
    finally:
        shutil.rmtree(root)
