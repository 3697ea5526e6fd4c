"""Ingestion of a landing folder into the event store (SPEC §1–§2).

An ingest reads the new landing files (`store.landing`) in batches; each batch is validated
whole (`store.tokens`, `fitmodel.validate`), its duplicates settled against the stored ids
(`store.stored_ids`), and applied crash-safely, one commit per table (`store.staging`). Batch
k is committed in a second thread while batch k + 1 is read and validated. Afterwards every
file's lines are counted against the tables: lines read = events stored + duplicates +
quarantine rows (`accounting`).
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from fitmodel.config import CornersConfig
from fitmodel.domain import STREAMS
from fitmodel.events import stream_schema
from fitmodel.registry import RegistryError, parse_registry
from fitmodel.validate import LINE_COLUMNS, settle_duplicates
from store import delta
from store.catalog import LOG_SCHEMA, QUARANTINE_SCHEMA, REGISTRY_SCHEMA
from store.crash import crashpoint
from store.home import Home
from store.landing import (
    REGISTRY_FILE,
    LandingFile,
    file_digest,
    inside,
    landing_files,
    read_batches,
)
from store.progress import Progress
from store.staging import Batch, apply, recover, stage
from store.stored_ids import StoredIds
from store.tokens import check_stream


class IngestError(RuntimeError):
    """An ingest that cannot run (missing folder, another ingest holding the lock)."""


class AccountingError(RuntimeError):
    """A file whose lines are not all in exactly one place after an ingest."""


@dataclass
class IngestReport:
    """What one ingest did: per-file accounting (`kind` file or retry) and what it refused."""

    files: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LOG_SCHEMA))
    skipped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    registry_rows: int | None = None
    seconds: float = 0.0

    def totals(self) -> dict[str, int]:
        sums = self.files.select(
            pl.col("lines_read", "stored", "duplicates", "quarantined").sum()
        ).row(0, named=True)
        return {k: int(v or 0) for k, v in sums.items()}


def home_lock(home: Home) -> AbstractContextManager[None]:
    busy = IngestError(f"another corners process is writing to {home.root}")
    return delta.exclusive(home.root / ".lock", busy)


def current_registry(home: Home) -> pl.DataFrame:
    return delta.scan_table(home, "registry").collect()


def _load_registry(
    landing: Path, home: Home, now: datetime, report: IngestReport
) -> pl.DataFrame | None:
    """The landing folder's registry when it is new and valid, else None (errors reported)."""
    path = landing / REGISTRY_FILE
    if path.is_symlink() and not inside(path, landing.resolve()):
        report.errors.append(
            f"{REGISTRY_FILE}: a link to {path.resolve()}, outside the landing folder: refused, "
            "not read"
        )
        return None
    if not path.is_file():
        return None
    digest = file_digest(path)
    known = current_registry(home)
    if known.height and known["file_hash"][0] == digest:
        return None
    try:
        raw = pl.read_csv(path, infer_schema=False)
        rows = parse_registry(raw, str(path))
    except RegistryError as exc:
        report.errors.append(str(exc))
        return None
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        report.errors.append(f"{path}: not a readable CSV file: {exc}")
        return None
    report.registry_rows = rows.height
    return rows.with_columns(
        pl.lit(REGISTRY_FILE).alias("source_file"),
        pl.lit(digest).alias("file_hash"),
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("loaded_at"),
    ).select(list(REGISTRY_SCHEMA))


def _retry_lines(home: Home) -> pl.DataFrame:
    """Quarantined lines held back only by `unknown_partnership`, in the order they were read."""
    return (
        delta.scan_table(home, "quarantine")
        .filter(pl.col("reasons") == pl.lit(["unknown_partnership"]))
        .sort("ingested_at", "source_file", "file_hash", "line_number")  # the order first read
        .select("stream", "source_file", "file_hash", "line_number", "line")
        .collect()
    )


@dataclass(frozen=True)
class Run:
    """What every batch of one ingest shares."""

    home: Home
    config: CornersConfig
    now: datetime
    registry_ids: pl.Series
    """The partnerships of the registry in force."""
    stored: StoredIds


def _checked(run: Run, lines: pl.DataFrame) -> pl.DataFrame:
    """Every line validated, in rank order; refuses to go on unless each line read has exactly
    one outcome (nothing of the batch is written then)."""
    checks = {"registry_ids": run.registry_ids, "ingested_at": run.now, "config": run.config.ingest}
    streams = lines["stream"].unique(maintain_order=True).to_list() or [STREAMS[0]]
    checked = pl.concat(
        [
            check_stream(
                lines.filter(pl.col("stream") == s).select(list(LINE_COLUMNS)), s, **checks
            )
            for s in streams
        ],
        how="diagonal",
    )
    if not checked["rank"].is_sorted():
        checked = checked.sort("rank")
    if checked.height != lines.height or not checked["rank"].equals(lines["rank"]):
        raise AccountingError(
            f"validation returned {checked.height} outcome(s) for {lines.height} line(s) of "
            f"{lines['source_file'].unique().sort().to_list()}; nothing of this batch was stored"
        )
    return checked


def _quarantine_ops(settled: pl.DataFrame) -> pl.DataFrame:
    """Quarantine changes: `insert` a newly quarantined line, `delete` a retried line that
    found another place, `update` a retried line whose reasons changed."""
    unchanged = pl.col("reasons") == pl.lit(["unknown_partnership"])
    op = (
        pl.when(~pl.col("retry"))
        .then(pl.when(pl.col("outcome") == "quarantined").then(pl.lit("insert")))
        .when(pl.col("outcome") != "quarantined")
        .then(pl.lit("delete"))
        .when(~unchanged)
        .then(pl.lit("update"))
        .alias("_op")
    )
    return (
        settled.with_columns(op)
        .filter(pl.col("_op").is_not_null())
        .select(*QUARANTINE_SCHEMA, "_op")
    )


def _log(lines: pl.DataFrame, settled: pl.DataFrame, retried: int, batch: Batch) -> pl.DataFrame:
    """One ingest-log row per file of the batch (and per file whose retried lines moved).

    Lines read are counted from the lines as read, not from what validation returned, so the
    accounting check can catch a line that validation lost."""
    read = lines.group_by("file_hash", (pl.col("rank") < retried).alias("retry")).agg(
        pl.col("stream").first(), pl.col("source_file").first(), pl.len().alias("read")
    )
    places = [("stored", "stored"), ("duplicate", "duplicates"), ("quarantined", "quarantined")]
    outcomes = settled.group_by("file_hash", "retry").agg(
        *[(pl.col("outcome") == outcome).sum().alias(name) for outcome, name in places]
    )
    counts = (
        read.join(outcomes, on=["file_hash", "retry"], how="left", maintain_order="left")
        .with_columns(pl.col("stored", "duplicates", "quarantined").fill_null(0))
        .with_columns(pl.col("read", "stored", "duplicates", "quarantined").cast(pl.Int64))
    )
    retry = pl.col("retry")
    log = counts.select(
        pl.lit(batch.batch_id).alias("ingest_batch"),
        pl.lit(batch.ingested_at).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
        pl.when(retry).then(pl.lit("retry")).otherwise(pl.lit("file")).alias("kind"),
        "stream",
        "source_file",
        "file_hash",
        pl.when(retry).then(0).otherwise(pl.col("read")).alias("lines_read"),
        "stored",
        "duplicates",
        pl.when(retry)
        .then(pl.col("quarantined") - pl.col("read"))
        .otherwise(pl.col("quarantined"))
        .alias("quarantined"),
    ).cast(dict(LOG_SCHEMA))
    # A retry that moved nothing is not worth a log row.
    return log.filter((pl.col("kind") == "file") | (pl.col("stored") + pl.col("duplicates") > 0))


def _build_batch(
    run: Run, lines: pl.DataFrame, retried: int, registry: pl.DataFrame | None
) -> Batch:
    """Validate `lines` (the first `retried` are quarantine retries) into the batch's writes."""
    batch = Batch(f"{run.now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", run.now, {})
    lines = lines.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
    checked = _checked(run, lines)
    candidates = checked.filter(pl.col("event_id").is_not_null())["event_id"]
    settled = settle_duplicates(checked, run.stored.lookup(run.home, candidates)).with_columns(
        pl.lit(run.now).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
        pl.lit(batch.batch_id).alias("ingest_batch"),
        (pl.col("rank") < retried).alias("retry"),
    )
    if registry is not None:
        batch.writes["registry"] = registry
    for stream in STREAMS:
        rows = settled.filter((pl.col("outcome") == "stored") & (pl.col("stream") == stream))
        if rows.height:
            batch.writes[f"events:{stream}"] = rows.select(list(stream_schema(stream)))
    for step, frame in (
        ("quarantine", _quarantine_ops(settled)),
        ("ingest_log", _log(lines, settled, retried, batch)),
    ):
        if frame.height:
            batch.writes[step] = frame
    return batch


def _empty_lines() -> pl.DataFrame:
    return pl.DataFrame(schema={k: v for k, v in LINE_COLUMNS.items() if k != "rank"})


def _commit_batch(home: Home, batch: Batch) -> None:
    if not batch.writes:
        return
    folder = stage(home, batch)
    apply(home, folder, batch.writes)


def ingest(
    home: Home,
    landing: Path,
    config: CornersConfig,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Ingest every new file of `landing`; returns the per-file accounting of this ingest."""
    if not landing.is_dir():
        raise IngestError(f"landing folder not found: {landing}")
    progress = progress or Progress("ingest", enabled=False)
    report = IngestReport()
    with home_lock(home):
        recover(home)
        now = now or datetime.now(UTC)
        crashpoint("plan")
        registry = _load_registry(landing, home, now, report)
        known = set(_ingested_hashes(home))
        stored = StoredIds.pin(home)
        fresh: list[LandingFile] = []
        found = landing_files(landing)
        report.errors += [f"{entry}: refused, not read" for entry in found.refused]
        report.ignored += found.ignored
        for f in found.files:
            if f.digest in known:
                report.skipped.append(f.relative)
            else:
                known.add(f.digest)
                fresh.append(f)
        ids = (registry if registry is not None else current_registry(home))["partnership_id"]
        run = Run(home, config, now, ids, stored)
        logs = []
        lines_done = 0
        files_done = 0
        # Batch k is committed in a second thread while batch k + 1 is read and validated; one
        # commit at a time, in order, so a sealed batch always follows its predecessor's commit.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as committer:
            committing: Future[None] | None = None
            limit = int(config.ingest.max_file_mb * 1e6)
            batches = read_batches(fresh, config.ingest.batch_mb * 1e6, limit, report.errors)
            for index, (chunk, read) in enumerate(batches):
                parts = [_retry_lines(home), *read] if index == 0 else read
                retried = parts[0].height if index == 0 else 0
                lines = pl.concat(parts) if parts else _empty_lines()
                reg = registry if index == 0 else None
                if lines.height == 0 and reg is None and not chunk:
                    continue
                batch = _build_batch(run, lines, retried, reg)
                stored.add(batch)
                if committing is not None:
                    committing.result()
                committing = committer.submit(_commit_batch, home, batch)
                if "ingest_log" in batch.writes:
                    logs.append(batch.writes["ingest_log"])
                lines_done += lines.height - retried
                files_done += len(chunk)
                rate = lines_done / max(progress.elapsed(), 1e-9)
                progress.update(
                    f"{files_done}/{len(fresh)} files, {lines_done:,} lines, {rate:,.0f} lines/s"
                )
            if committing is not None:
                committing.result()
        progress.done()
        if logs:
            report.files = pl.concat(logs)
        check_accounting(home, report.files["file_hash"].unique())
    report.seconds = progress.elapsed()
    return report


def new_landing_files(home: Home, landing: Path) -> list[LandingFile]:
    """The landing files an ingest would read: event files whose content is not recorded
    yet, and a registry file other than the one in force."""
    if not landing.is_dir():
        raise IngestError(f"landing folder not found: {landing}")
    known = set(_ingested_hashes(home))
    fresh = [f for f in landing_files(landing).files if f.digest not in known]
    registry = landing / REGISTRY_FILE
    if registry.is_file():
        digest = file_digest(registry)
        current = current_registry(home)
        if not current.height or current["file_hash"][0] != digest:
            fresh.append(LandingFile(registry, REGISTRY_FILE, "registry", digest, 0))
    return fresh


def newest_ingest(home: Home) -> datetime | None:
    """When the newest ingest that read anything ran (the ingest log's newest time): the
    `ingested_at` of every event it stored; None before the first."""
    if not delta.exists(home.ingest_log):
        return None
    return delta.scan_table(home, "ingest_log").select(pl.col("ingested_at").max()).collect().item()


def _ingested_hashes(home: Home) -> pl.Series:
    return (
        delta.scan_table(home, "ingest_log")
        .filter(pl.col("kind") == "file")
        .select("file_hash")
        .collect()["file_hash"]
    )


def accounting(home: Home, file_hashes: pl.Series | None = None) -> pl.DataFrame:
    """Per ingested file (or per file of `file_hashes`): lines read against where they are
    now (events, duplicates, quarantine).

    For given files only the event rows of the batches that logged them are read (each event
    carries its batch, and a data file holds one batch, so the others are skipped by their
    statistics)."""
    log = delta.scan_table(home, "ingest_log")
    events = [delta.scan_events(home, s).select("file_hash", "ingest_batch") for s in STREAMS]
    quarantine = delta.scan_table(home, "quarantine")
    if file_hashes is not None:
        mine = pl.col("file_hash").is_in(file_hashes.implode())
        log = log.filter(mine)
        batches = log.select("ingest_batch").unique().collect()["ingest_batch"]
        events = [e.filter(pl.col("ingest_batch").is_in(batches.implode()) & mine) for e in events]
        quarantine = quarantine.filter(mine)
    log = log.group_by("file_hash").agg(
        pl.col("source_file").first(),
        pl.col("lines_read").sum(),
        pl.col("duplicates").sum(),
        pl.col("stored").sum().alias("logged_stored"),
        pl.col("quarantined").sum().alias("logged_quarantined"),
    )
    stored = pl.concat(events).group_by("file_hash").agg(pl.len().cast(pl.Int64).alias("stored"))
    quarantined = quarantine.group_by("file_hash").agg(pl.len().cast(pl.Int64).alias("quarantined"))
    return (
        log.join(stored, on="file_hash", how="left")
        .join(quarantined, on="file_hash", how="left")
        .with_columns(pl.col("stored", "quarantined").fill_null(0))
        .with_columns(
            (
                (
                    pl.col("lines_read")
                    == pl.col("stored") + pl.col("duplicates") + pl.col("quarantined")
                )
                & (pl.col("stored") == pl.col("logged_stored"))
                & (pl.col("quarantined") == pl.col("logged_quarantined"))
            ).alias("balanced")
        )
        .sort("source_file")
        .collect()
    )


def check_accounting(home: Home, file_hashes: pl.Series | None = None) -> pl.DataFrame:
    """Raise `AccountingError` unless every (given) file's lines are each in exactly one place."""
    table = accounting(home, file_hashes)
    bad = table.filter(~pl.col("balanced"))
    if bad.height:
        rows = "\n".join(
            f"  {r['source_file']}: read {r['lines_read']} != stored {r['stored']} + duplicates "
            f"{r['duplicates']} + quarantined {r['quarantined']}"
            for r in bad.iter_rows(named=True)
        )
        raise AccountingError(f"accounting mismatch after ingest:\n{rows}")
    return table
