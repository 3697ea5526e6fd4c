"""Vectorised validation of landing lines (SPEC §1–§2).

Two steps over a whole batch, no per-line Python:
1. `extract` tokenises every line with DuckDB's JSON functions: per known field its exact
   JSON type (polars' JSON decoding cannot tell `2` from `2.0` or `"2"`) and its text; the
   unknown fields as a JSON object (`extra`, keys sorted); and a content hash,
   so "equal as parsed JSON" becomes a hash comparison: the hash covers each known field's
   JSON type and parsed value and the key-sorted unknown fields, not the line's spelling.
2. `validate` turns those into typed columns and a list of quarantine reasons, with polars
   expressions; `settle_duplicates` applies the event-id rules against the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from fitmodel.config import IngestConfig
from fitmodel.events import ENVELOPE, EVENT_TYPES, FieldSpec, type_fields, types_with_field

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
_JSON_TYPES = {
    "str": ("VARCHAR",),
    "enum": ("VARCHAR",),
    "timestamp": ("VARCHAR",),
    "bool": ("BOOLEAN",),
    "int": ("BIGINT", "UBIGINT"),
}
"""DuckDB's names of the JSON types each field kind accepts (`2.0` is DOUBLE, so not int)."""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _extract_sql() -> str:
    paths = _sql_list([f"$.{f.name}" for f in ALL_FIELDS])
    envelope = [f.name for f in ENVELOPE]
    known_by_type = " ".join(
        f"WHEN '{t}' THEN {_sql_list(envelope + [s.name for s in specs])}"
        for t, (_, specs) in EVENT_TYPES.items()
    )
    picks = ",\n".join(
        f'types[{i + 1}] AS "t:{f.name}", vals[{i + 1}] AS "v:{f.name}"'
        for i, f in enumerate(ALL_FIELDS)
    )
    return f"""
    WITH parsed AS (
        SELECT *, CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END
            AS is_object
        FROM lines
    ), tokens AS (
        SELECT * EXCLUDE (is_object), is_object,
            CASE WHEN is_object THEN json_type(line, {paths}) END AS types,
            CASE WHEN is_object THEN json_extract_string(line, {paths}) END AS vals,
            CASE WHEN is_object THEN json_keys(line) END AS keys
        FROM parsed
    ), known AS (
        SELECT *, list_filter(keys, lambda k: NOT list_contains(
            CASE vals[2] {known_by_type} ELSE {_sql_list(envelope)} END, k)) AS unknown
        FROM tokens
    ), extras AS (
        SELECT *, CASE WHEN len(unknown) > 0 THEN to_json(map_from_entries(list_sort(
            list_filter(map_entries(from_json(line, '"MAP(VARCHAR, JSON)"')),
                lambda e: list_contains(unknown, e.key)))))::VARCHAR END AS extra
        FROM known
    )
    SELECT * EXCLUDE (types, vals, keys, unknown),
        {picks},
        md5(to_json(types)::VARCHAR || to_json(vals)::VARCHAR || coalesce(extra, '')) AS content_hash
    FROM extras
    """


_EXTRACT_SQL = _extract_sql()


def extract(lines: pl.DataFrame) -> pl.DataFrame:
    """Tokenise a batch of lines (columns `LINE_COLUMNS`) into per-field JSON types and text."""
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        con.register("lines", lines)
        return con.sql(_EXTRACT_SQL).pl()
    finally:
        con.close()


def _t(name: str) -> pl.Expr:
    return pl.col(f"t:{name}")


def _v(name: str) -> pl.Expr:
    return pl.col(f"v:{name}")


def _absent(name: str) -> pl.Expr:
    return _t(name).is_null() | (_t(name) == "NULL")


_TS = (
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2})?(\.\d{1,9})?"
    r"([Zz]|[+-]\d{2}:?\d{2})?$"
)


def _timestamp_parts() -> dict[str, pl.Expr]:
    """Normalised text of `occurred_at` with and without its offset."""
    raw = _v("occurred_at").str.strip_chars()
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


Rule = tuple[pl.Expr, str]
"""A quarantine rule: the condition under which a line gets the reason."""


def _occurred_at(config: IngestConfig) -> tuple[pl.Expr, pl.Expr]:
    """The UTC timestamp, and whether the text is a valid timestamp without an offset."""
    parts = _timestamp_parts()
    aware = parts["with_offset"].str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"
    )
    naive = parts["naive"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False)
    if config.default_timezone:
        localised = (
            naive.dt.cast_time_unit("us")
            .dt.replace_time_zone(
                config.default_timezone, ambiguous="earliest", non_existent="null"
            )
            .dt.convert_time_zone("UTC")
        )
        return pl.coalesce(aware, localised), pl.lit(False)
    return aware, aware.is_null() & naive.is_not_null()


def _field_rules(spec: FieldSpec, applies: pl.Expr) -> list[Rule]:
    """Missing, wrong JSON type, or value out of its domain: at most one holds per field."""
    n = spec.name
    value = _v(n)
    if spec.kind == "int":
        number = value.cast(pl.Int64, strict=False)
        bad_value = number.is_null()
        if spec.low is not None:
            bad_value = bad_value | (number < spec.low)
        if spec.high is not None:
            bad_value = bad_value | (number > spec.high)
    elif spec.kind == "enum":
        bad_value = ~value.is_in(spec.values)
    elif spec.kind == "str":
        bad_value = value.str.strip_chars() == ""
    else:
        bad_value = pl.lit(False)
    present = applies & ~_absent(n)
    wrong_type = ~_t(n).is_in(_JSON_TYPES[spec.kind])
    rules = [
        (present & wrong_type, f"invalid_type:{n}"),
        (present & ~wrong_type & bad_value, f"invalid_value:{n}"),
    ]
    if spec.required:
        rules.insert(0, (applies & _absent(n), f"missing_field:{n}"))
    return rules


def validate(
    extracted: pl.LazyFrame,
    *,
    registry_ids: pl.Series,
    ingested_at: datetime,
    config: IngestConfig,
) -> pl.LazyFrame:
    """Typed event columns plus `reasons` (list of SPEC §2 quarantine reasons) per line.

    Whether a line fails is one boolean expression over the batch; the reason texts are built
    only for the lines that fail.
    """
    is_object = pl.col("is_object")
    event_type = _v("event_type")
    known_type = (_t("event_type") == "VARCHAR") & event_type.is_in(list(EVENT_TYPES))
    parsed_at, naive_at = _occurred_at(config)
    occurred_at = pl.col("_occurred_at")
    text_at = is_object & (_t("occurred_at") == "VARCHAR")
    ts_rules = [
        (text_at & pl.col("_naive_at"), "naive_timestamp"),
        (text_at & occurred_at.is_null() & ~pl.col("_naive_at"), "invalid_value:occurred_at"),
    ]
    future_limit = ingested_at + timedelta(days=config.future_tolerance_days)
    stream_of_type = event_type.replace_strict(
        {t: s for t, (s, _) in EVENT_TYPES.items()}, default=None, return_dtype=pl.String
    )

    rules: list[Rule] = [(~is_object, "malformed_json")]
    for spec in ENVELOPE:
        if spec.name == "occurred_at":
            rules += [r for r in _field_rules(spec, is_object) if "invalid_value" not in r[1]]
            rules += ts_rules
        else:
            rules += _field_rules(spec, is_object)
    rules.append(
        (is_object & (_t("event_type") == "VARCHAR") & ~known_type, "invalid_value:event_type")
    )
    for spec in type_fields().values():
        rules += _field_rules(spec, is_object & event_type.is_in(types_with_field(spec.name)))
    rules += [
        (is_object & known_type & (stream_of_type != pl.col("stream")), "wrong_stream"),
        (is_object & (occurred_at > future_limit), "future_timestamp"),
        (
            is_object
            & (_t("partnership_id") == "VARCHAR")
            & (_v("partnership_id").str.strip_chars() != "")
            & ~_v("partnership_id").is_in(registry_ids.implode()),
            "unknown_partnership",
        ),
    ]
    conditions = [cond.fill_null(False) for cond, _ in rules]

    typed = []
    for spec in ALL_FIELDS:
        if spec.kind == "timestamp":
            typed.append(occurred_at.alias(spec.name))
        elif spec.kind == "int":
            typed.append(_v(spec.name).cast(pl.Int64, strict=False).alias(spec.name))
        elif spec.kind == "bool":
            typed.append((_v(spec.name) == "true").alias(spec.name))
        else:
            typed.append(_v(spec.name).alias(spec.name))

    texts = [
        pl.when(c).then(pl.lit(reason)) for c, (_, reason) in zip(conditions, rules, strict=True)
    ]
    return (
        extracted.with_columns(parsed_at.alias("_occurred_at"), naive_at.alias("_naive_at"))
        .with_columns(pl.any_horizontal(conditions).alias("_fails"))
        .select(
            *LINE_COLUMNS,
            "content_hash",
            "extra",
            *typed,
            pl.when(pl.col("_fails"))
            .then(pl.concat_str(texts, separator="|", ignore_nulls=True).str.split("|"))
            .otherwise(pl.lit([], pl.List(pl.String)))
            .alias("reasons"),
        )
    )


def settle_duplicates(validated: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Apply the event-id rules of SPEC §2 and add `outcome` (stored, duplicate, quarantined).

    `stored` holds `event_id`, `content_hash` of the events already in the store that share an
    id with the batch. Per id, the version that stands is the stored one, else the first
    storable line by `rank`. Every other line with that id is a `duplicate` when its content
    equals the standing version and `conflicting_duplicate` otherwise. A line held back only by
    `unknown_partnership` is compared too, but never stands itself until it is stored.
    """
    storable = pl.col("reasons").list.len() == 0
    comparable = storable | (pl.col("reasons") == pl.lit(["unknown_partnership"]))
    candidates = pl.concat(
        [
            stored.select("event_id", "content_hash", pl.lit(-1, pl.Int64).alias("rank")),
            validated.filter(storable).select("event_id", "content_hash", "rank"),
        ]
    )
    standing = (
        candidates.sort("rank")
        .group_by("event_id", maintain_order=True)
        .agg(pl.col("content_hash").first().alias("standing_hash"), pl.col("rank").first())
        .rename({"rank": "standing_rank"})
    )
    out = validated.join(standing, on="event_id", how="left", maintain_order="left")
    other = (
        comparable
        & pl.col("standing_hash").is_not_null()
        & (pl.col("standing_rank") != pl.col("rank"))
    )
    duplicate = other & (pl.col("content_hash") == pl.col("standing_hash"))
    conflict = other & ~duplicate
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
        .drop("standing_hash", "standing_rank")
    )
