"""Vectorised validation rules of landing lines (SPEC §1–§2), as polars expressions.

`validate` reads each token's JSON type from its first character (a string starts with `"`,
an integer matches `-?digits`, so `2.0`, `"2"` and `true` are not integers) and turns the
tokens `store.tokens` extracted into typed columns and quarantine reasons, all with polars
expressions; `settle_duplicates` applies the event-id rules against the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from fitmodel.config import IngestConfig
from fitmodel.domain import EARLIEST_DAY
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

EARLIEST_INSTANT = datetime(EARLIEST_DAY.year, 1, 1, tzinfo=UTC)
"""Events before this are `invalid_value:occurred_at` (`fitmodel.domain.EARLIEST_DAY`)."""


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


def _as_date(text: pl.Expr) -> pl.Expr:
    """An ISO date written exactly `YYYY-MM-DD` (a real day of the calendar), else null."""
    exact = text.str.contains(r"^\d{4}-\d{2}-\d{2}$")
    return pl.when(exact).then(text.str.to_date("%Y-%m-%d", strict=False))


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
    elif spec.kind == "date":
        day = _as_date(value)
        bad_value = day.is_null() | (day < EARLIEST_DAY)
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

    def typed_value(spec: FieldSpec) -> pl.Expr:
        if spec.kind == "timestamp":
            return occurred_at
        if spec.kind == "date":
            return _as_date(pl.col(f"v:{spec.name}"))
        return pl.col(f"v:{spec.name}")

    typed = [typed_value(spec).alias(spec.name) for spec in fields]
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
