"""One refresh of the fit-health table: plan, compute the candidate, publish.

Write–audit–publish: the candidate (the recomputed days) is written to
`<home>/candidate/fit_health` with its plan; checks audit it; only then does `publish` replace
those days in `<home>/published/fit_health`, in one Delta commit, and record the refresh in
`<home>/refresh_log`. A candidate that fails its checks is never published, and the last good
version stays readable. Publishing also records, in `<home>/published/restatements`, every
already published partnership-day the new rows change (late events restate history),
compared with the version the last completed refresh published, so a refresh killed after
its fit-health commit loses no restatement on its re-run, nor records one twice.

Which days: see `fitmodel.incremental`. The events that arrived since the last refresh are
those ingested after its watermark (the newest `ingested_at` it had seen); the earliest of
their dates bounds what changed. A new registry, published columns that differ from what the
model computes (an upgrade), or no previous refresh, means a rebuild.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from fitmodel.config import CornersConfig
from fitmodel.events import EARLIEST_DAY, STREAMS
from fitmodel.incremental import (
    RESTATEMENT_SCHEMA,
    first_affected_day,
    recompute,
    restatements,
)
from fitmodel.indicators import Events
from fitmodel.score import fit_health_schema
from pipelines import store
from pipelines.ingest import crashpoint
from pipelines.store import REGISTRY_SCHEMA, Home

CHUNK = 1_250_000
"""Partnership-days per grid chunk in the fit model (bounds memory on large stores)."""

REFRESH_LOG_SCHEMA = pl.Schema(
    {
        "as_of": pl.Date(),
        "start": pl.Date(),
        "mode": pl.String(),
        "rows": pl.Int64(),
        "watermark": pl.Datetime("us", "UTC"),
        "registry_hash": pl.String(),
        "published_version": pl.Int64(),
        "refreshed_at": pl.Datetime("us", "UTC"),
    }
)


@dataclass(frozen=True)
class Plan:
    """What a refresh recomputes: days `start` (None: all) through `as_of`."""

    as_of: date
    start: date | None
    mode: str
    watermark: datetime | None
    registry_hash: str | None

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("as_of", "start", "watermark"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(
            as_of=date.fromisoformat(data["as_of"]),
            start=date.fromisoformat(data["start"]) if data["start"] else None,
            mode=data["mode"],
            watermark=datetime.fromisoformat(data["watermark"]) if data["watermark"] else None,
            registry_hash=data["registry_hash"],
        )


def fit_health_path(home: Home) -> Path:
    return home.published / "fit_health"


def candidate_path(home: Home) -> Path:
    return home.root / "candidate" / "fit_health"


def refresh_log_path(home: Home) -> Path:
    return home.root / "refresh_log"


def events_of(home: Home) -> Events:
    return Events(*(store.scan_events(home, s) for s in STREAMS))


def last_refresh(home: Home) -> dict | None:
    log = store.scan(refresh_log_path(home), REFRESH_LOG_SCHEMA).collect()
    if log.is_empty():
        return None
    return log.sort("refreshed_at").row(-1, named=True)


def _registry_hash(home: Home) -> str | None:
    reg = store.scan(home.registry, REGISTRY_SCHEMA).select("file_hash").head(1).collect()
    return reg["file_hash"][0] if reg.height else None


def _newest_ingest(home: Home) -> datetime | None:
    times = [
        store.scan_events(home, s).select(pl.col("ingested_at").max()).collect().item()
        for s in STREAMS
    ]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def _earliest_event_since(home: Home, watermark: datetime) -> date | None:
    days = [
        store.scan_events(home, s)
        .filter(pl.col("ingested_at") > watermark)
        .select(pl.col("occurred_at").min())
        .collect()
        .item()
        for s in STREAMS
    ]
    days = [d for d in days if d is not None]
    return min(days).date() if days else None


def _model_changed(home: Home) -> bool:
    """Whether the published columns differ from what this version of the model computes
    (after an upgrade that adds a column, every day is recomputed)."""
    published = pl.scan_delta(str(fit_health_path(home))).collect_schema()
    return list(published) != [*fit_health_schema(), "computed_at"]


class PlanError(ValueError):
    """A refresh that must not run as asked (its as_of would damage what is published)."""


def check_as_of(home: Home, as_of: date, *, rebuild: bool, allow_future: bool) -> None:
    """Refuse an as_of before the earliest accepted day, after today (UTC) unless
    `allow_future`, or, for a refresh, before the last published as_of (it would drop the
    published days after it): that takes an explicit rebuild."""
    today = datetime.now(UTC).date()
    if as_of < EARLIEST_DAY:
        raise PlanError(f"as_of {as_of} is before {EARLIEST_DAY}, the earliest day corners keeps")
    if as_of > today and not allow_future:
        raise PlanError(
            f"as_of {as_of} is after today ({today}, UTC): its rows would hold no events yet "
            "and its alerts would fire on empty days; pass --allow-future if that is meant"
        )
    last = last_refresh(home)
    if not rebuild and last is not None and as_of < last["as_of"]:
        raise PlanError(
            f"as_of {as_of} is before the last published as_of {last['as_of']}: a refresh "
            f"would drop the published days after {as_of}. To republish through {as_of}, run "
            f"`corners rebuild --as-of {as_of}`"
        )


def plan_refresh(home: Home, as_of: date, *, rebuild: bool = False) -> Plan:
    """The days this refresh must recompute (see the module docstring)."""
    watermark = _newest_ingest(home)
    registry_hash = _registry_hash(home)
    last = last_refresh(home)
    full = (
        rebuild
        or last is None
        or last["registry_hash"] != registry_hash
        or not store.exists(fit_health_path(home))
        or _model_changed(home)
    )
    if full:
        return Plan(as_of, None, "rebuild", watermark, registry_hash)
    affected = (
        _earliest_event_since(home, last["watermark"]) if last["watermark"] is not None else None
    )
    if last["watermark"] is None and watermark is not None:
        return Plan(as_of, None, "rebuild", watermark, registry_hash)
    # An earlier as_of than last time (a rebuild through it) also drops the days after it.
    start = min(first_affected_day(affected, last["as_of"]), as_of + timedelta(days=1))
    # Rows begin at started_on: an event dated before every partnership's start changes
    # nothing earlier than the first start.
    first_start = (
        store.scan(home.registry, REGISTRY_SCHEMA).select(pl.col("started_on").min()).collect()
    ).item()
    if first_start is not None and start < first_start:
        start = first_start
    return Plan(as_of, start, "incremental", watermark, registry_hash)


def compute_candidate(home: Home, config: CornersConfig, plan: Plan) -> pl.DataFrame:
    """The recomputed fit-health rows of `plan`, stamped with `computed_at` (possibly none,
    with the table's columns all the same)."""
    registry = store.scan(home.registry, REGISTRY_SCHEMA)
    previous = store.scan(fit_health_path(home), pl.Schema()) if plan.start else pl.LazyFrame()
    chunks = recompute(
        previous, events_of(home), registry, plan.as_of, config.model, plan.start, CHUNK
    )
    # Chunks come ordered by day; so are the files written from them.
    return pl.concat(list(chunks)).with_columns(
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("computed_at")
    )


def write_candidate(home: Home, rows: pl.DataFrame, plan: Plan) -> None:
    """Replace the candidate table and its plan."""
    path = candidate_path(home)
    path.mkdir(parents=True, exist_ok=True)
    (path.parent / "plan.json").write_text(plan.to_json())
    write_deltalake(str(path), rows.to_arrow(), mode="overwrite", schema_mode="overwrite")


def read_candidate(home: Home) -> tuple[pl.DataFrame, Plan]:
    path = candidate_path(home)
    plan = Plan.from_json((path.parent / "plan.json").read_text())
    return pl.read_delta(str(path)), plan


def write_published(path: Path, rows: pl.DataFrame, start: date | None) -> None:
    """Write fit-health rows in one commit: all of them (start None), or in place of the days
    from `start` on. The table is partitioned by day, so replacing recent days rewrites only
    their files, and readers of a day range skip the rest."""
    if start is None:
        write_deltalake(
            str(path),
            rows.to_arrow(),
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=["as_of"],
        )
    else:
        write_deltalake(
            str(path),
            rows.to_arrow(),
            mode="overwrite",
            predicate=f"as_of >= '{start.isoformat()}'",
        )


RESTATED_SCHEMA = pl.Schema(
    {
        **RESTATEMENT_SCHEMA,
        "refresh_as_of": pl.Date(),
        "published_version": pl.Int64(),
        "restated_at": pl.Datetime("us", "UTC"),
    }
)
"""The restatements table: `fitmodel.incremental.restatements` stamped with the refresh."""


def restatements_path(home: Home) -> Path:
    return home.published / "restatements"


def _restated(home: Home, rows: pl.DataFrame, plan: Plan, last: dict | None) -> pl.DataFrame:
    """Already published days that `rows` change (see `fitmodel.incremental.restatements`),
    against the version the last completed refresh published: after a crash that left a newer
    version unlogged, the re-run still sees what that refresh changed."""
    path = fit_health_path(home)
    if plan.start is None or last is None or not store.exists(path) or plan.start > last["as_of"]:
        return pl.DataFrame(schema=RESTATEMENT_SCHEMA)
    before = (
        pl.scan_delta(str(path), version=last["published_version"])
        .filter(pl.col("as_of").is_between(plan.start, last["as_of"]))
        .collect()
    )
    return restatements(before, rows)


def _record_restated(home: Home, restated: pl.DataFrame, last: dict | None) -> None:
    """Append this refresh's restatements, in one commit with the removal of any rows an
    unfinished refresh (killed before its log entry) recorded after the last completed one."""
    path = restatements_path(home)
    if last is None or last["published_version"] is None or not store.exists(path):
        if restated.height:
            write_deltalake(str(path), restated.to_arrow(), mode="append")
        return
    unfinished = f"published_version > {last['published_version']}"
    leftovers = pl.scan_delta(str(path)).filter(pl.sql_expr(unfinished)).select(pl.len())
    if restated.height or leftovers.collect().item():
        write_deltalake(str(path), restated.to_arrow(), mode="overwrite", predicate=unfinished)


def publish(home: Home, rows: pl.DataFrame, plan: Plan) -> int | None:
    """Replace the plan's days in the published table in one commit; returns its new version,
    or None when there was nothing to change."""
    path = fit_health_path(home)
    last = last_refresh(home)
    unchanged = (
        rows.is_empty()
        and plan.start is not None
        and last is not None
        and plan.as_of >= last["as_of"]
    )
    version = None
    if not unchanged:
        restated = _restated(home, rows, plan, last)
        write_published(path, rows, None if not store.exists(path) else plan.start)
        crashpoint("publish:published")
        version = store.version(path)
        stamped = restated.with_columns(
            refresh_as_of=pl.lit(plan.as_of),
            published_version=pl.lit(version),
            restated_at=pl.lit(datetime.now(UTC)),
        ).cast(dict(RESTATED_SCHEMA))
        _record_restated(home, stamped, last)
        crashpoint("publish:restated")
    entry = pl.DataFrame(
        [
            {
                "as_of": plan.as_of,
                "start": plan.start,
                "mode": plan.mode,
                "rows": rows.height,
                "watermark": plan.watermark,
                "registry_hash": plan.registry_hash,
                "published_version": version if version is not None else store.version(path),
                "refreshed_at": datetime.now(UTC),
            }
        ],
        schema=REFRESH_LOG_SCHEMA,
    )
    write_deltalake(str(refresh_log_path(home)), entry.to_arrow(), mode="append")
    return version
