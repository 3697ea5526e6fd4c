"""Vectorised validation of landing lines (SPEC §1–§2).

Two steps over a whole batch, no per-line Python:
1. `extract` tokenises every line with DuckDB (`json_transform` to a struct of raw JSON
   tokens, one per known field), lists unknown keys as a key-sorted JSON object (`extra`), and
   hashes the tokens (`content_hash`), so "equal as parsed JSON" is a hash comparison that
   ignores key order and spacing.
2. `validate` reads each token's JSON type from its first character (a string starts with
   `"`, an integer matches `-?digits`, so `2.0`, `"2"` and `true` are not integers) and turns
   tokens into typed columns and quarantine reasons, all with polars expressions;
   `settle_duplicates` applies the event-id rules against the store.

`check_stream` does both for a stream's files, tokenising for that stream's fields first
(docs/design.md, "Per stream, odd lines twice" and "Unknown fields by length").
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from fitmodel.config import IngestConfig
from fitmodel.events import (
    EARLIEST_DAY,
    ENVELOPE,
    EVENT_TYPES,
    FieldSpec,
    stream_fields,
    type_fields,
    types_with_field,
)

LINE_COLUMNS = {
    "stream": pl.String(),
    "source_file": pl.String(),
    "file_hash": pl.String(),
    "line_number": pl.Int64(),
    "line": pl.String(),
    "rank": pl.Int64(),
}
"""A batch of lines to validate; `rank` is the processing order (SPEC §2)."""

ALL_FIELDS: list[FieldSpec] = [*ENVELOPE, *type_fields().values()]

EARLIEST_INSTANT = datetime(EARLIEST_DAY.year, 1, 1, tzinfo=UTC)
"""Events before this are `invalid_value:occurred_at` (`fitmodel.events.EARLIEST_DAY`)."""


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
    # Every known field has its place in the hash, '' when absent or not tokenised here: the
    # tokens joined by chr(31), then `extra` (runs of separators are written as one literal).
    hashed, run = [], ""
    for i, f in enumerate(ALL_FIELDS):
        run += "\x1f" if i else ""
        if f.name in fields:
            hashed += [f"'{run}'"] if run else []
            hashed.append(f"coalesce(tok.\"{f.name}\"::VARCHAR, '')")
            run = ""
    hashed += [f"'{run}\x1f'", "coalesce(extra, '')"]
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
        tokens[f"j:{f.name}"].gather(where).fill_null("")
        if f.name in tokenised
        else pl.repeat("", where.len(), eager=True)
        for f in ALL_FIELDS
    ]
    prefixes = pl.DataFrame({str(i): part for i, part in enumerate(parts)}).select(
        pl.concat_str(pl.all(), separator="\x1f").alias("p")
    )["p"]
    hashes = [
        hashlib.md5(f"{prefix}\x1f{extra}".encode()).hexdigest()
        for prefix, extra in zip(prefixes, extras, strict=True)
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


def _tok(name: str) -> pl.Expr:
    return pl.col(f"j:{name}")


def _absent(name: str) -> pl.Expr:
    """Absent or JSON null."""
    return _tok(name).is_null() | (_tok(name) == "null")


def _is_string(name: str) -> pl.Expr:
    return _tok(name).str.starts_with('"')


def _text(name: str, escapes: bool) -> pl.Expr:
    """The value of a JSON string token; escapes are decoded only where there are any (none
    when no line of the batch has a backslash)."""
    tok = pl.when(_is_string(name)).then(_tok(name))
    plain = tok.str.strip_prefix('"').str.strip_suffix('"')
    if not escapes:
        return plain
    escaped = pl.when(tok.str.contains("\\", literal=True)).then(tok).str.json_decode(pl.String)
    return pl.coalesce(escaped, plain)


def _is_integer(name: str) -> pl.Expr:
    return _tok(name).str.contains(r"^-?\d+$")


def _has_type(spec: FieldSpec) -> pl.Expr:
    """Whether the token's JSON type fits the field (strict: no numeric strings, no 2.0)."""
    if spec.kind == "int":
        return _is_integer(spec.name)
    if spec.kind == "bool":
        return _tok(spec.name).is_in(["true", "false"])
    return _is_string(spec.name)


_TS = (
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2})?(\.\d{1,9})?"
    r"([Zz]|[+-]\d{2}:?\d{2})?$"
)


def _timestamp_parts(raw: pl.Expr) -> dict[str, pl.Expr]:
    """Normalised text of a timestamp, with and without its offset."""
    m = raw.str.extract_groups(_TS)
    clock = pl.concat_str(
        [
            m.struct["1"],
            pl.lit("T"),
            m.struct["2"],
            m.struct["3"].fill_null(":00"),
            m.struct["4"].fill_null(".0"),
        ]
    )
    offset = (
        m.struct["5"].str.replace(r"^[Zz]$", "+00:00").str.replace(r"^([+-]\d{2})(\d{2})$", "$1:$2")
    )
    date_only = raw.str.contains(r"^\d{4}-\d{2}-\d{2}$")
    return {
        "with_offset": pl.concat_str([clock, offset]),
        "naive": pl.when(date_only)
        .then(raw + "T00:00:00.0")
        .otherwise(pl.when(offset.is_null()).then(clock)),
    }


def _occurred_at(frame: pl.DataFrame, config: IngestConfig) -> pl.DataFrame:
    """Add `_occurred_at` (UTC) and `_naive_at` (valid but without an offset).

    The common forms (`…:SSZ`, `…:SS±HH:MM`) parse directly over the batch; only the lines they
    do not parse (padded, fractional, other offsets, naive, invalid) go through the regex
    normaliser, and their results are scattered back into place."""
    text = pl.col("v:occurred_at")
    utc = text.str.ends_with("Z")
    parsed = frame.select(
        pl.coalesce(
            pl.when(form)
            .then(text)
            .str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC", cache=False)
            for form, f in [(utc, "%Y-%m-%dT%H:%M:%SZ"), (~utc, "%Y-%m-%dT%H:%M:%S%:z")]
        )
    ).to_series()
    naive_at = pl.repeat(False, frame.height, eager=True)
    where = (parsed.is_null() & frame["v:occurred_at"].is_not_null()).arg_true()
    if where.len():
        raw = text.str.strip_chars()
        parts = _timestamp_parts(raw)
        aware = parts["with_offset"].str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC", cache=False
        )
        naive = parts["naive"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, cache=False)
        if config.default_timezone:
            localised = (
                naive.dt.cast_time_unit("us")
                .dt.replace_time_zone(
                    config.default_timezone, ambiguous="earliest", non_existent="null"
                )
                .dt.convert_time_zone("UTC")
            )
            value, is_naive = pl.coalesce(aware, localised), pl.lit(False)
        else:
            value, is_naive = aware, aware.is_null() & naive.is_not_null()
        rest = frame[where].select(value.alias("at"), is_naive.alias("naive"))
        parsed = parsed.scatter(where, rest["at"])
        naive_at = naive_at.scatter(where, rest["naive"])
    return frame.with_columns(parsed.alias("_occurred_at"), naive_at.alias("_naive_at"))


def _aligned(frame: pl.DataFrame, some: pl.DataFrame) -> pl.DataFrame:
    """The columns of `some` (keyed by `rank`, a few of `frame`'s lines) row-aligned with
    `frame`, null elsewhere; without gathering `frame`'s own columns."""
    return (
        frame.select("rank").join(some, on="rank", how="left", maintain_order="left").drop("rank")
    )


Rule = tuple[pl.Expr, str]
"""A quarantine rule: the condition under which a line gets the reason."""


def _decoded(spec: FieldSpec, escapes: bool) -> pl.Expr:
    """The field's typed value, null unless its token has the right JSON type."""
    n = spec.name
    if spec.kind == "int":
        return pl.when(_is_integer(n)).then(_tok(n).cast(pl.Int64, strict=False))
    if spec.kind == "bool":
        return pl.when(_has_type(spec)).then(_tok(n) == "true")
    return _text(n, escapes)


def _field_rules(spec: FieldSpec, applies: pl.Expr) -> list[Rule]:
    """Missing, wrong JSON type, or value out of its domain: at most one holds per field."""
    n = spec.name
    value = pl.col(f"v:{n}")
    if spec.kind == "int":
        bad_value = value.is_null()  # an integer token that does not fit in 64 bits
        if spec.low is not None:
            bad_value = bad_value | (value < spec.low)
        if spec.high is not None:
            bad_value = bad_value | (value > spec.high)
    elif spec.kind == "enum":
        bad_value = ~value.is_in(spec.values)
    elif spec.kind == "str":
        bad_value = value.str.strip_chars() == ""
    else:
        bad_value = pl.lit(False)
    present = applies & ~_absent(n)
    right_type = pl.col(f"ok:{n}")
    rules = [
        (present & ~right_type, f"invalid_type:{n}"),
        (present & right_type & bad_value, f"invalid_value:{n}"),
    ]
    if spec.required:
        rules.insert(0, (applies & _absent(n), f"missing_field:{n}"))
    return rules


def validate(
    extracted: pl.DataFrame,
    *,
    registry_ids: pl.Series,
    ingested_at: datetime,
    config: IngestConfig,
    fields: Sequence[FieldSpec] = ALL_FIELDS,
) -> pl.DataFrame:
    """Typed event columns plus `reasons` (list of SPEC §2 quarantine reasons) per line.

    `fields` are those `extracted` was tokenised for: the envelope, then type fields; the
    rules of the type fields left out are not checked, so they must be fields of no line's
    event type. Whether a line fails is one boolean expression over the batch; the reason texts
    are built only where it does.
    """
    is_object = pl.col("is_object")
    event_type = pl.col("v:event_type")
    known_type = event_type.is_in(list(EVENT_TYPES))
    occurred_at = pl.col("_occurred_at")
    future_limit = ingested_at + timedelta(days=config.future_tolerance_days)
    stream_of_type = event_type.replace_strict(
        {t: s for t, (s, _) in EVENT_TYPES.items()}, default=None, return_dtype=pl.String
    )
    text_at = is_object & pl.col("ok:occurred_at")

    rules: list[Rule] = [(~is_object, "malformed_json")]
    for spec in ENVELOPE:
        if spec.name == "occurred_at":
            rules += [r for r in _field_rules(spec, is_object) if "invalid_value" not in r[1]]
            rules += [
                (text_at & pl.col("_naive_at"), "naive_timestamp"),
                (
                    text_at & occurred_at.is_null() & ~pl.col("_naive_at"),
                    "invalid_value:occurred_at",
                ),
                # A date no partnership can have (the registry refuses them too).
                (occurred_at < EARLIEST_INSTANT, "invalid_value:occurred_at"),
            ]
        else:
            rules += _field_rules(spec, is_object)
    rules.append((is_object & pl.col("ok:event_type") & ~known_type, "invalid_value:event_type"))
    for spec in fields[len(ENVELOPE) :]:
        rules += _field_rules(spec, is_object & event_type.is_in(types_with_field(spec.name)))
    rules += [
        (is_object & known_type & (stream_of_type != pl.col("stream")), "wrong_stream"),
        (is_object & (occurred_at > future_limit), "future_timestamp"),
        (
            is_object
            & (pl.col("v:partnership_id").str.strip_chars() != "")
            & ~pl.col("v:partnership_id").is_in(registry_ids.implode()),
            "unknown_partnership",
        ),
    ]
    conditions = [cond.fill_null(False) for cond, _ in rules]
    flags: dict[str, pl.Expr] = {}
    for cond, (_, reason) in zip(conditions, rules, strict=True):
        flags[reason] = flags[reason] | cond if reason in flags else cond
    typed = [
        (occurred_at if spec.kind == "timestamp" else pl.col(f"v:{spec.name}")).alias(spec.name)
        for spec in fields
    ]
    escapes = extracted.select(pl.col("line").str.contains("\\", literal=True).any()).item()
    frame = (
        extracted.lazy()
        .with_columns(
            *[_decoded(spec, escapes).alias(f"v:{spec.name}") for spec in fields],
            *[_has_type(spec).alias(f"ok:{spec.name}") for spec in fields],
        )
        .collect()
    )
    frame = _occurred_at(frame, config).with_columns(
        pl.any_horizontal(flags.values()).alias("_fails")
    )
    # The reason texts are built for the failing lines only.
    texts = [pl.when(cond).then(pl.lit(reason)) for reason, cond in flags.items()]
    failing = frame.filter("_fails").select(
        "rank", pl.concat_str(texts, separator="|", ignore_nulls=True).str.split("|").alias("_why")
    )
    return frame.select(*LINE_COLUMNS, "content_hash", "extra", *typed).with_columns(
        _aligned(frame, failing)["_why"].fill_null(pl.lit([], pl.List(pl.String))).alias("reasons")
    )


def settle_duplicates(validated: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Apply the event-id rules of SPEC §2 and add `outcome` (stored, duplicate, quarantined).

    `stored` holds `event_id`, `content_hash` of the events already in the store that share an
    id with the batch. Per id, the version that stands is the stored one, else the first
    storable line by `rank`. Every other storable line with that id is a `duplicate` when its
    content equals the standing version and `conflicting_duplicate` otherwise.

    Only lines that are otherwise storable are compared. A line quarantined for another reason
    (`unknown_partnership` among them) keeps exactly its own reasons, so they do not depend on
    which lines shared its batch or how often the landing was ingested; a line retried once
    its partnership is known is storable, and compared then.
    """
    storable = pl.col("reasons").list.len() == 0
    comparable = storable
    # Only ids stored already or on two comparable lines need the rules; most ids are new.
    # Repeats are found among 64-bit hashes of the ids, twice as fast as among the strings; a
    # collision only adds an id to the contest, where ids are compared exactly.
    ids = validated.filter(comparable)["event_id"]
    contested = pl.concat([stored["event_id"], ids.filter(ids.hash().is_duplicated())])
    in_contest = pl.col("event_id").is_in(contested.implode())
    candidates = pl.concat(
        [
            stored.select("event_id", "content_hash", pl.lit(-1, pl.Int64).alias("rank")),
            validated.filter(storable & in_contest).select("event_id", "content_hash", "rank"),
        ]
    )
    standing = (
        candidates.sort("rank")
        .group_by("event_id", maintain_order=True)
        .agg(pl.col("content_hash").first().alias("standing_hash"), pl.col("rank").first())
        .rename({"rank": "standing_rank"})
    )
    contest = (
        validated.filter(comparable & in_contest)
        .select("rank", "event_id", "content_hash")
        .join(standing, on="event_id", how="left")
        .filter(pl.col("standing_hash").is_not_null() & (pl.col("standing_rank") != pl.col("rank")))
        .select("rank", (pl.col("content_hash") == pl.col("standing_hash")).alias("_same"))
    )
    out = validated.with_columns(_aligned(validated, contest)["_same"])
    duplicate = pl.col("_same").fill_null(False)
    conflict = pl.col("_same").not_().fill_null(False)
    reasons = (
        pl.when(conflict)
        .then(pl.col("reasons").list.concat(pl.lit(["conflicting_duplicate"])))
        .otherwise(pl.col("reasons"))
    )
    return (
        out.with_columns(reasons.alias("reasons"))
        .with_columns(
            pl.when(duplicate)
            .then(pl.lit("duplicate"))
            .when(pl.col("reasons").list.len() == 0)
            .then(pl.lit("stored"))
            .otherwise(pl.lit("quarantined"))
            .alias("outcome")
        )
        .drop("_same")
    )
