"""One refresh of the fit-health table: plan, compute the candidate, publish.

Write–audit–publish: the candidate (the recomputed days) is written to
`<home>/candidate/fit_health`, its plan in the same commit; checks audit it; only then does
`publish` replace those days in `<home>/published/fit_health`, in one Delta commit that also
records the publication's position (its plan: as_of, first day, mode, watermark, registry
and model). A candidate that fails its checks is never published, and the last good version
stays readable.

Restatements (already published partnership-days a publication changed) are a projection of
the table's history: each commit of `<home>/published/restatements` records the fit-health
version it covers, and publishing catches up every version not covered yet, comparing it
with the version before it. A refresh killed after its fit-health commit loses no
restatement (the next one records it), nor records one twice.

Which days: `fitmodel.planning`. The events that arrived since the last publication are those
ingested after its watermark; the earliest of their dates bounds what changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake

from fitmodel.columns import fit_health_schema
from fitmodel.domain import EARLIEST_DAY, STREAMS
from fitmodel.incremental import recompute, restatements
from fitmodel.indicators import DAY, Events, P
from fitmodel.planning import Facts, Plan, decide, model_hash, needs_publication
from store import delta, shards
from store.catalog import CATALOG
from store.crash import crashpoint

if TYPE_CHECKING:
    import pyarrow as pa

    from fitmodel.config import CornersConfig
    from store.home import Home

CHUNK = 625_000
"""Partnership-days per grid chunk in the fit model (bounds memory on large stores). A
chunk's working memory is the same whatever the store or the shard: at 1,250,000, one
shard's candidate of four peaked 305 MB higher (2,489 MB against 2,184 MB) and the unsharded
rebuild's 200 MB higher, in the same time (docs/scale.md)."""

PLAN_KEY = "corners.plan"
"""Commit metadata of the candidate and fit-health tables: the plan (the position)."""
COVERS_KEY = "corners.fit_health_version"
"""Commit metadata of the restatements table: the fit-health version it covers."""


class PlanError(ValueError):
    """A refresh that must not run as asked (its as_of would damage what is published)."""


def events_of(home: Home) -> Events:
    return Events(*(delta.scan_events(home, s) for s in STREAMS))


def latest_day(
    home: Home, partnership_id: str, fit_health: pl.LazyFrame | None = None
) -> date | None:
    """The last day `partnership_id` has a published fit-health row, or None when it has none
    (`fit_health`: the table's scan, when the caller has one already).

    The day its row should be last on is tried first: the table's last day (from the Delta
    log), or the registry's end of the partnership when that is earlier (the registry may
    have changed since the publication, so the days after it must hold no row). Only those
    days' files are read: 0.01 s for a partnership still running on the 10,000-partnership
    store, where the whole table's maximum takes 0.4 s."""
    path = home.path("fit_health")
    held = delta.days(path)
    if not held:
        return None
    if fit_health is None:
        fit_health = delta.scan_table(home, "fit_health")
    rows = fit_health.filter(pl.col(P) == partnership_id)
    ended = (
        delta.scan_table(home, "registry")
        .filter(pl.col(P) == partnership_id)
        .select(pl.col("ended_on").max())
        .collect()
        .item()
    )
    last = min(held[-1], ended) if ended else held[-1]

    def any_row(on: pl.Expr) -> bool:
        return rows.filter(on).select(P).head(1).collect().height > 0

    day = pl.col(DAY)
    if any_row(day == last) and (last == held[-1] or not any_row(day > last)):
        return last
    return rows.select(day.max()).collect().item()


def _commit(plan: Plan) -> CommitProperties:
    return CommitProperties(custom_metadata={PLAN_KEY: plan.to_json()})


def positions(home: Home, since: int = -1) -> list[tuple[int, Plan]]:
    """(version, plan) of the fit-health publications after version `since`, oldest first."""
    path = home.path("fit_health")
    if not delta.exists(path):
        return []
    table = DeltaTable(str(path))
    depth = table.version() - since
    found = [
        (entry["version"], Plan.from_json(entry[PLAN_KEY]))
        for entry in table.history(depth)
        if PLAN_KEY in entry and entry["version"] > since
    ]
    return sorted(found, key=lambda item: item[0])


def last_publication(home: Home) -> tuple[int, Plan] | None:
    """The newest publication: its fit-health version and plan."""
    path = home.path("fit_health")
    if not delta.exists(path):
        return None
    table = DeltaTable(str(path))
    for entry in table.history(20):  # the newest commit is a publication; a few more at most
        if PLAN_KEY in entry:
            return entry["version"], Plan.from_json(entry[PLAN_KEY])
    return None


def published_as_of(home: Home) -> date | None:
    last = last_publication(home)
    return last[1].as_of if last else None


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
    last = published_as_of(home)
    if not rebuild and last is not None and as_of < last:
        raise PlanError(
            f"as_of {as_of} is before the last published as_of {last}: a refresh would drop "
            f"the published days after {as_of}. To republish through {as_of}, run "
            f"`corners rebuild --as-of {as_of}`"
        )


def _registry_hash(home: Home) -> str | None:
    reg = delta.scan_table(home, "registry").select("file_hash").head(1).collect()
    return reg["file_hash"][0] if reg.height else None


def _newest_ingest(home: Home) -> datetime | None:
    times = [
        delta.scan_events(home, s).select(pl.col("ingested_at").max()).collect().item()
        for s in STREAMS
    ]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def _earliest_event_since(home: Home, watermark: datetime) -> date | None:
    days = [
        delta.scan_events(home, s)
        .filter(pl.col("ingested_at") > watermark)
        .select(pl.col("occurred_at").min())
        .collect()
        .item()
        for s in STREAMS
    ]
    days = [d for d in days if d is not None]
    return min(days).date() if days else None


def _columns_match(home: Home) -> bool:
    """Whether the published columns are those this version of the model computes (after an
    upgrade that adds a column, every day is recomputed)."""
    path = home.path("fit_health")
    if not delta.exists(path):
        return True
    published = delta.scan_table(home, "fit_health").collect_schema()
    return list(published) == [*fit_health_schema(), "computed_at"]


def plan_refresh(home: Home, as_of: date, config: CornersConfig, *, rebuild: bool = False) -> Plan:
    """The days this refresh must recompute (`fitmodel.planning.decide`)."""
    last = last_publication(home)
    registry = delta.scan_table(home, "registry").select(pl.col("started_on").min()).collect()
    facts = Facts(
        as_of=as_of,
        watermark=_newest_ingest(home),
        registry_hash=_registry_hash(home),
        model_hash=model_hash(config.model, config.scale.shards),
        columns_match=_columns_match(home),
        earliest_start=registry.item(),
    )
    previous = last[1] if last else None
    affected = (
        _earliest_event_since(home, previous.watermark)
        if previous is not None and previous.watermark is not None
        else None
    )
    return decide(previous, facts, affected, rebuild=rebuild)


def compute_candidate(
    home: Home,
    config: CornersConfig,
    plan: Plan,
    on_chunk: Callable[[pl.DataFrame], None] | None = None,
    shard: tuple[int, int] | None = None,
) -> pl.DataFrame:
    """The recomputed fit-health rows of `plan`, stamped with `computed_at` (possibly none,
    with the table's columns all the same); `on_chunk` sees each chunk as it is computed
    (progress). With `shard` = (k, N), only the rows of shard k's partnerships."""
    registry = delta.scan_table(home, "registry")
    previous = delta.scan_table(home, "fit_health") if plan.start else pl.LazyFrame()
    events = events_of(home)
    if shard is not None:
        registry = shards.members(registry, *shard)
        ids = registry.select("partnership_id").collect().to_series()
        events = shards.events_of_members(events, ids)
        if plan.start:
            previous = previous.filter(pl.col("partnership_id").is_in(ids.implode()))
    chunks = []
    for chunk in recompute(previous, events, registry, plan.as_of, config.model, plan.start, CHUNK):
        chunks.append(chunk)
        if on_chunk:
            on_chunk(chunk)
    # Chunks come ordered by day; so are the files written from them.
    return pl.concat(chunks).with_columns(
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("computed_at")
    )


def write_candidate(home: Home, rows: pl.DataFrame, plan: Plan, shard: int | None = None) -> None:
    """Replace the candidate table (or shard `shard`'s, a file per day); its plan goes in the
    same commit."""
    path = _candidate_path(home, shard)
    if shard is not None:
        if delta.exists(path):  # a shard's candidate is replaced whole
            shutil.rmtree(path)
        delta.write_days(
            path,
            _by_day(rows),
            rows.head(0).to_arrow().schema,
            start=None,
            commit=_commit(plan.with_rows(rows.height)),
        )
        return
    delta.replace(path, rows, _commit(plan.with_rows(rows.height)))


def _candidate_path(home: Home, shard: int | None) -> Path:
    return home.path("fit_health_candidate") if shard is None else shards.shard_path(home, shard)


def read_candidate(
    home: Home, shard: int | None = None, columns: list[str] | None = None
) -> tuple[pl.DataFrame, Plan]:
    """The candidate rows (or shard `shard`'s; only `columns`, if given) and the plan they
    were computed for."""
    rows = delta.scan(_candidate_path(home, shard), CATALOG["fit_health_candidate"].schema)
    if columns is not None:
        rows = rows.select(columns)
    return rows.collect(), candidate_plan(home, shard)


def candidate_plan(home: Home, shard: int | None = None) -> Plan:
    """The plan of the candidate (or of shard `shard`'s), from its last commit."""
    path = _candidate_path(home, shard)
    return Plan.from_json(DeltaTable(str(path)).history(1)[0][PLAN_KEY])


def empty_candidate() -> pl.DataFrame:
    return pl.DataFrame(schema=CATALOG["fit_health_candidate"].schema)


def _by_day(rows: pl.DataFrame) -> Iterator[pa.Table]:
    """The rows a day at a time, in day order. The rows come in runs of one day (each chunk
    of partnerships is ordered by day), so a day is a few slices, copied when its turn
    comes."""
    if rows.is_empty():
        return
    runs = rows.select(pl.col("as_of").rle()).unnest("as_of")
    runs = runs.with_columns((pl.col("len").cum_sum() - pl.col("len")).alias("offset"))
    for day in (
        runs.group_by("value", maintain_order=True).agg("offset", "len").sort("value").iter_rows()
    ):
        _, offsets, lengths = day
        parts = [rows.slice(o, n) for o, n in zip(offsets, lengths, strict=True)]
        yield pl.concat(parts).to_arrow()


def _shards_of(home: Home, plan: Plan, count: int) -> int:
    """The rows of the shards' candidates, each of which must be of `plan` (a shard left from
    another refresh is refused)."""
    total = 0
    for k in range(count):
        shard_plan = candidate_plan(home, k)
        if replace(shard_plan, rows=0) != replace(plan, rows=0):
            raise PlanError(
                f"shard {k}'s candidate is of another refresh ({shard_plan.as_of}, "
                f"{shard_plan.mode}) than the plan ({plan.as_of}, {plan.mode}): run it again"
            )
        total += shard_plan.rows
    return total


def publish_shards(home: Home, plan: Plan, count: int) -> tuple[int, int]:
    """Publish the candidates of all `count` shards in one commit, with the plan as position:
    their day files (a file per shard per day) are linked into the table and committed
    together, so no row is read or written again. Records what it restated; returns the
    table's version and the rows published."""
    record_restatements(home)
    last = last_publication(home)
    total = _shards_of(home, plan, count)
    if needs_publication(last[1] if last else None, plan, total):
        # The shards' day files become the table's: linked in, committed at once.
        path = home.path("fit_health")
        delta.adopt_days(
            path,
            shards.day_files(home, count),
            empty_candidate().to_arrow().schema,
            start=_start(path, plan),
            commit=_commit(plan.with_rows(total)),
        )
        crashpoint("publish:published")
        record_restatements(home)
        crashpoint("publish:restated")
    return delta.version(home.path("fit_health")), total


def write_publication(home: Home, rows: pl.DataFrame, plan: Plan) -> None:
    """Write fit-health rows in one commit with the plan as position: all of them (a
    rebuild), or in place of the days from `plan.start` on. The table is partitioned by day,
    a file per day, so replacing recent days rewrites only their files, and readers of a day
    range skip the rest."""
    _write_days(home, _by_day(rows), rows.head(0).to_arrow().schema, plan)


def _write_days(home: Home, days: Iterator[pa.Table], schema: pa.Schema, plan: Plan) -> None:
    path = home.path("fit_health")
    delta.write_days(path, days, schema, start=_start(path, plan), commit=_commit(plan))


def _start(path: Path, plan: Plan) -> date | None:
    """The first day a publication replaces (None: all, as for the first)."""
    return plan.start if delta.exists(path) else None


def _covered(home: Home) -> int:
    """The newest fit-health version whose restatements are recorded (-1: none)."""
    path = home.path("restatements")
    if not delta.exists(path):
        return -1
    for entry in DeltaTable(str(path)).history(20):
        if COVERS_KEY in entry:
            return int(entry[COVERS_KEY])
    return -1


def _restated_by(home: Home, version: int, plan: Plan, before: Plan | None) -> pl.DataFrame:
    """The days publication `version` changed among those the one before it had published."""
    schema = CATALOG["restatements"].schema
    if plan.start is None or before is None or plan.start > before.as_of:
        return pl.DataFrame(schema=schema)
    days = pl.col("as_of").is_between(plan.start, before.as_of)
    old = delta.scan_table(home, "fit_health", version - 1).filter(days).collect()
    new = delta.scan_table(home, "fit_health", version).filter(days).collect()
    return (
        restatements(old, new)
        .with_columns(
            refresh_as_of=pl.lit(plan.as_of),
            published_version=pl.lit(version),
            restated_at=pl.lit(datetime.now(UTC)),
        )
        .cast(dict(schema))
    )


def record_restatements(home: Home) -> None:
    """Record the restatements of every publication not covered yet, one commit each (its
    rows and the version covered together)."""
    covered = _covered(home)
    plans = dict(positions(home, since=covered - 1 if covered >= 0 else -1))
    for version in sorted(v for v in plans if v > covered):
        restated = _restated_by(home, version, plans[version], plans.get(version - 1))
        write_deltalake(
            str(home.path("restatements")),
            restated.to_arrow(),
            mode="append",
            schema_mode="merge",
            commit_properties=CommitProperties(custom_metadata={COVERS_KEY: str(version)}),
        )


def publish(home: Home, rows: pl.DataFrame, plan: Plan) -> int:
    """Replace the plan's days in the published table in one commit, with the plan as its
    position, and record what it restated; returns the table's version (unchanged when
    there was nothing to publish)."""
    record_restatements(home)  # a publication killed before recording them
    last = last_publication(home)
    if needs_publication(last[1] if last else None, plan, rows.height):
        write_publication(home, rows, plan.with_rows(rows.height))
        crashpoint("publish:published")
        record_restatements(home)
        crashpoint("publish:restated")
    return delta.version(home.path("fit_health"))


def refresh_log(home: Home) -> pl.DataFrame:
    """One row per publication, from the fit-health table's history (newest last)."""
    path = home.path("fit_health")
    rows = []
    if delta.exists(path):
        for entry in DeltaTable(str(path)).history():
            if PLAN_KEY in entry:
                plan = Plan.from_json(entry[PLAN_KEY])
                rows.append(
                    {
                        "published_version": entry["version"],
                        "as_of": plan.as_of,
                        "start": plan.start,
                        "mode": plan.mode,
                        "rows": plan.rows,
                        "watermark": plan.watermark,
                        "registry_hash": plan.registry_hash,
                        "model_hash": plan.model_hash,
                        "published_at": datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
                    }
                )
    return pl.DataFrame(rows, schema=REFRESH_LOG_SCHEMA).sort("published_version")


REFRESH_LOG_SCHEMA = pl.Schema(
    {
        "published_version": pl.Int64(),
        "as_of": pl.Date(),
        "start": pl.Date(),
        "mode": pl.String(),
        "rows": pl.Int64(),
        "watermark": pl.Datetime("us", "UTC"),
        "registry_hash": pl.String(),
        "model_hash": pl.String(),
        "published_at": pl.Datetime("us", "UTC"),
    }
)
"""`corners query`'s `refresh_log`: the publications, read from the fit-health history."""
