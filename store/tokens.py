"""Tokenising landing lines with DuckDB, for the rules of `fitmodel.validate`.

`extract` tokenises every line of a batch (`json_transform` to a struct of raw JSON tokens,
one per known field), lists unknown keys as a key-sorted JSON object (`extra`), and hashes the
tokens (`content_hash`), so "equal as parsed JSON" is a hash comparison that ignores key
order and spacing. `check_stream` tokenises a stream's files for that stream's fields first
and validates them (docs/design.md, "Per stream, odd lines twice" and "Unknown fields by
length").
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from fitmodel.events import ENVELOPE, EVENT_TYPES, FIRST_RELEASE_FIELDS, FieldSpec, stream_fields
from fitmodel.validate import ALL_FIELDS, LINE_COLUMNS, validate

LATER_FIELDS = [f.name for f in ALL_FIELDS if f.name not in FIRST_RELEASE_FIELDS]
"""Fields added since the first release (hashed by name, only when present)."""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


@cache
def _extract_sql(fields: tuple[str, ...]) -> str:
    """The tokenising query for the known fields `fields` (a subset of `ALL_FIELDS`)."""
    struct = "{" + ", ".join(f'"{f}": "JSON"' for f in fields) + "}"
    envelope = [f.name for f in ENVELOPE]
    known_by_type = " ".join(
        f"WHEN '\"{t}\"' THEN {_sql_list(envelope + [s.name for s in specs])}"
        for t, (_, specs) in EVENT_TYPES.items()
    )

    # A line without a backslash or spacing whose length is that of its known fields written
    # minified has no other key (see docs/design.md): only the other lines list their keys.
    def minified_length(names: list[str]) -> str:
        # `{`, `}`, and per present field `"name":token` and a comma, less one comma
        return "1 + " + " + ".join(f'coalesce({len(n) + 4} + strlen(tok."{n}"), 0)' for n in names)

    length_by_type = " ".join(
        f"WHEN '\"{t}\"' THEN {minified_length(envelope + [s.name for s in specs])}"
        for t, (_, specs) in EVENT_TYPES.items()
        if all(s.name in fields for s in specs)
    )
    tokens = ", ".join(f'tok."{f}" AS "j:{f}"' for f in fields)
    # Every field of the first release has its place in the hash, '' when absent or not
    # tokenised here: the tokens joined by chr(31), then `extra` (runs of separators are
    # written as one literal); then each later field present, as chr(30) name=token.
    hashed, run = [], ""
    for i, name in enumerate(FIRST_RELEASE_FIELDS):
        run += "\x1f" if i else ""
        if name in fields:
            hashed += [f"'{run}'"] if run else []
            hashed.append(f"coalesce(tok.\"{name}\"::VARCHAR, '')")
            run = ""
    hashed += [f"'{run}\x1f'", "coalesce(extra, '')"]
    hashed += [
        f"coalesce('\x1e{name}=' || tok.\"{name}\"::VARCHAR, '')"
        for name in LATER_FIELDS
        if name in fields
    ]
    return f"""
    WITH parsed AS (
        SELECT rank, line, json_valid(line) AND starts_with(ltrim(line), '{{') AS is_object
        FROM lines
    ), tokens AS (
        SELECT rank, line, is_object,
            CASE WHEN is_object THEN json_transform(line, '{struct}') END AS tok
        FROM parsed
    ), unknown AS (
        SELECT *, CASE WHEN NOT is_object THEN NULL
            WHEN strlen(line) = CASE tok.event_type::VARCHAR {length_by_type} END
                AND NOT contains(line, '\\') THEN NULL
            ELSE list_filter(json_keys(line), lambda k: NOT list_contains(
            CASE tok.event_type::VARCHAR {known_by_type} ELSE {_sql_list(envelope)} END, k))
            END AS unknown
        FROM tokens
    ), extras AS (
        SELECT *, CASE WHEN len(unknown) > 0 THEN to_json(map_from_entries(list_sort(
            list_filter(map_entries(from_json(line, '"MAP(VARCHAR, JSON)"')),
                lambda e: list_contains(unknown, e.key)))))::VARCHAR END AS extra
        FROM unknown
    )
    SELECT rank, is_object, {tokens}, extra,
        CASE WHEN is_object THEN md5(concat({", ".join(hashed)})) END
            AS content_hash
    FROM extras
    """


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection: reused, a new one per batch costs a fifth more."""
    if not hasattr(_local, "con"):
        _local.con = duckdb.connect()
        _local.con.execute("SET threads TO 2")
    return _local.con


def extract(lines: pl.DataFrame, fields: Sequence[FieldSpec] = ALL_FIELDS) -> pl.DataFrame:
    """Tokenise a batch of lines (columns `LINE_COLUMNS`): the lines plus `is_object`, one raw
    JSON token per field of `fields` (`j:<field>`, null when absent), `extra` (the unknown
    fields of the line's event type) and `content_hash`, which does not depend on `fields` for
    a line without unknown fields."""
    con = _connection()
    # DuckDB scans a record batch per thread: hand it several.
    table = lines.select("rank", "line").to_arrow()
    batches = table.to_batches(max_chunksize=1 << 16)
    con.register("lines", pa.Table.from_batches(batches, schema=table.schema))
    try:
        tokens = pl.from_arrow(
            con.sql(_extract_sql(tuple(f.name for f in fields))).to_arrow_table()
        )
    finally:
        con.unregister("lines")
    if not tokens["rank"].equals(lines["rank"]):  # DuckDB keeps insertion order; make sure
        tokens = lines.select("rank").join(tokens, on="rank", how="left", maintain_order="left")
    return _canonical_nested_extras(lines.hstack(tokens.drop("rank")), fields)


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_nested_extras(tokens: pl.DataFrame, fields: Sequence[FieldSpec]) -> pl.DataFrame:
    """Unknown fields holding objects, written with their keys sorted at every depth, and the
    content hash recomputed over that text: "equal as parsed JSON" ignores the key order of
    nested objects too. DuckDB sorts only the top-level keys; the few lines whose unknown
    fields nest an object are rewritten here (Python's json, on those lines alone). Lines
    without one keep the text and hash DuckDB gave them."""
    nested = tokens["extra"].str.slice(1).str.contains("{", literal=True).fill_null(False)
    where = nested.arg_true()
    if where.is_empty():
        return tokens
    extras = [_canonical(text) for text in tokens["extra"].gather(where)]
    tokenised = {f.name for f in fields}
    parts = [
        tokens[f"j:{name}"].gather(where).fill_null("")
        if name in tokenised
        else pl.repeat("", where.len(), eager=True)
        for name in FIRST_RELEASE_FIELDS
    ]
    prefixes = pl.DataFrame({str(i): part for i, part in enumerate(parts)}).select(
        pl.concat_str(pl.all(), separator="\x1f").alias("p")
    )["p"]
    later = [
        (pl.lit(f"\x1e{name}=") + tokens[f"j:{name}"].gather(where)).fill_null("")
        for name in LATER_FIELDS
        if name in tokenised
    ]
    suffixes = (
        pl.select(pl.concat_str(later).alias("s"))["s"]
        if later
        else pl.repeat("", where.len(), eager=True)
    )
    hashes = [
        hashlib.md5(f"{prefix}\x1f{extra}{suffix}".encode()).hexdigest()
        for prefix, extra, suffix in zip(prefixes, extras, suffixes, strict=True)
    ]
    return tokens.with_columns(
        tokens["extra"].scatter(where, extras),
        tokens["content_hash"].scatter(where, hashes),
    )


def check_stream(lines: pl.DataFrame, stream: str, **checks: Any) -> pl.DataFrame:
    """`validate` the lines of one stream's files: typed columns of that stream's table (the
    lines not in `rank` order).

    Lines are tokenised for the stream's fields only; the few that are not JSON objects of one
    of the stream's event types without unknown fields are tokenised again for every field, so
    every reason that applies is found and `content_hash` stays the same."""
    fields = [*ENVELOPE, *stream_fields(stream)]
    types = [f'"{t}"' for t, (s, _) in EVENT_TYPES.items() if s == stream]
    first = extract(lines, fields)
    # A mask that is null for a line would drop it from both sides: every line takes exactly
    # one of the two paths (a line without an `event_type` token is not usual).
    usual = (
        ~pl.col("is_object") | (pl.col("j:event_type").is_in(types) & pl.col("extra").is_null())
    ).fill_null(False)
    parts = [validate(first.filter(usual), fields=fields, **checks)]
    rest = first.filter(~usual)
    if rest.height:
        again = extract(rest.select(list(LINE_COLUMNS)))
        parts.append(validate(again, **checks).select(parts[0].columns))
    return pl.concat(parts) if len(parts) > 1 else parts[0]
