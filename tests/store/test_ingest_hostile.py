"""Property: whatever a landing line holds, it lands in exactly one place, and the store does
not depend on how the landing is batched or how often it is ingested (SPEC §2)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitmodel.config import CornersConfig, IngestConfig
from fitmodel.domain import STREAMS
from store.home import Home
from store.ingest import accounting, ingest
from tests.helpers import communication, meeting, write_registry

ENVELOPE = ("event_id", "event_type", "partnership_id", "occurred_at")
TIMES = [
    "2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00+14:00",
    "2024-03-01T10:00:00-12:00",
    "2016-12-31T23:59:60Z",
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "2024-02-30T10:00:00Z",
    "2024-03-01",
    "2024-03-01T10:00:00",
    "yesterday",
]
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def events(draw) -> dict:
    """An event with any combination of its envelope fields absent, null or ill-typed, any
    time, and unknown fields nesting objects."""
    base = draw(st.sampled_from([meeting, communication]))(
        draw(st.sampled_from(["e1", "e2", "e3", "e4", "é5", "🙂6"])),
        pid=draw(st.sampled_from(["P1", "P2", "P-NOBODY"])),
        at=draw(st.sampled_from(TIMES)),
    )
    if draw(st.booleans()):  # the envelope alone (and maybe a source), as in a bare `{}`
        base = {k: v for k, v in base.items() if k in ENVELOPE}
        if draw(st.booleans()):
            base["source"] = draw(st.sampled_from(["crm", 7, None]))
    for name in ENVELOPE:
        how = draw(st.sampled_from(["keep"] * 4 + ["drop", "null", "int", "empty"]))
        if how == "drop":
            del base[name]
        elif how == "null":
            base[name] = None
        elif how == "int":
            base[name] = 7
        elif how == "empty":
            base[name] = ""
    extra = draw(st.dictionaries(st.sampled_from(["meta", "crm", "x"]), json_values, max_size=2))
    base.update(extra)
    keys = draw(st.permutations(list(base)))
    return {k: base[k] for k in keys}


@st.composite
def lines(draw) -> str:
    kind = draw(st.sampled_from(["event"] * 6 + ["non_object", "raw", "blank"]))
    if kind == "event":
        return json.dumps(draw(events()), ensure_ascii=draw(st.booleans()))
    if kind == "non_object":
        return draw(st.sampled_from(["[]", "1", '"x"', "null", "true", "{", "{}}", "[{}]"]))
    if kind == "blank":
        return draw(st.sampled_from(["", "   ", "\t"]))
    raw = draw(text).replace("\n", " ").replace("\r", " ")
    return "x" + raw  # some non-space text that is not JSON


landings = st.lists(
    st.tuples(st.sampled_from(STREAMS), st.lists(lines(), min_size=1, max_size=8)),
    min_size=1,
    max_size=4,
)


def _write(landing: Path, files: list[tuple[str, list[str]]]) -> dict[str, int]:
    """Write the files; return each file's own count of non-blank lines (a file with the same
    content as one before it in path order is the same file: a no-op)."""
    write_registry(landing, ids=("P1", "P2"))
    written = {}
    for n, (stream, body) in enumerate(files):
        rel = f"{stream}/f{n}.jsonl"
        (landing / stream).mkdir(parents=True, exist_ok=True)
        written[rel] = "\n".join(body) + "\n"
        (landing / rel).write_text(written[rel], encoding="utf-8")
    counts, contents = {}, set()
    for rel, data in sorted(written.items()):  # the order files are ingested in
        if data not in contents:
            contents.add(data)
            counts[rel] = sum(1 for line in data.split("\n") if re.search(r"\S", line))
    return counts


def _store(home: Home) -> dict[str, pl.DataFrame]:
    """The store's content, without what only says when or in which batch it was written."""
    out = {}
    for stream in STREAMS:
        path = home.events(stream)
        if path.exists():
            out[stream] = (
                pl.read_delta(str(path)).drop("ingested_at", "ingest_batch").sort("event_id")
            )
    if home.quarantine.exists():
        out["quarantine"] = (
            pl.read_delta(str(home.quarantine))
            .drop("ingested_at", "ingest_batch")
            .sort("source_file", "line_number")
        )
    out["accounting"] = accounting(home).drop("balanced").sort("source_file")
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=landings)
def test_every_hostile_line_lands_in_one_place_whatever_the_batching(files):
    root = Path(tempfile.mkdtemp())
    try:
        landing = root / "landing"
        counts = _write(landing, files)
        tiny = CornersConfig(ingest=IngestConfig(batch_mb=1e-9))  # a batch per file
        one = Home(root / "one")
        many = Home(root / "many")
        ingest(one, landing, CornersConfig())
        ingest(many, landing, tiny)
        ingest(many, landing, tiny)  # a no-op: nothing may change, not even reasons
        for home in (one, many):
            table = accounting(home)
            by_file = dict(zip(table["source_file"], table["lines_read"], strict=True))
            assert by_file == {rel: n for rel, n in counts.items() if n}
            assert (
                table["lines_read"] == table["stored"] + table["duplicates"] + table["quarantined"]
            ).all()
        a, b = _store(one), _store(many)
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].equals(b[name]), name
    finally:
        shutil.rmtree(root)
