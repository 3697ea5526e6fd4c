"""Where corners keeps its tables under `<home>`, and the Delta Lake operations on them.

Every write is one Delta commit tagged with the ingest batch that made it (commit metadata
`corners_batch`), so a replayed batch can tell which of its writes already landed.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import TableNotFoundError

from fitmodel.events import STREAMS, stream_schema


@contextmanager
def exclusive(lock: Path, busy: Exception) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` (the kernel drops it when the process ends,
    killed or not), or raise `busy` at once if another process holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield


BATCH_KEY = "corners_batch"

QUARANTINE_SCHEMA = pl.Schema(
    {
        "stream": pl.String(),
        "source_file": pl.String(),
        "file_hash": pl.String(),
        "line_number": pl.Int64(),
        "line": pl.String(),
        "reasons": pl.List(pl.String()),
        "event_id": pl.String(),
        "partnership_id": pl.String(),
        "ingested_at": pl.Datetime("us", "UTC"),
        "ingest_batch": pl.String(),
    }
)

REGISTRY_SCHEMA = pl.Schema(
    {
        "partnership_id": pl.String(),
        "name": pl.String(),
        "partner_a": pl.String(),
        "partner_b": pl.String(),
        "industry_a": pl.String(),
        "industry_b": pl.String(),
        "owner": pl.String(),
        "started_on": pl.Date(),
        "ended_on": pl.Date(),
        "source_file": pl.String(),
        "file_hash": pl.String(),
        "loaded_at": pl.Datetime("us", "UTC"),
    }
)

LOG_SCHEMA = pl.Schema(
    {
        "ingest_batch": pl.String(),
        "ingested_at": pl.Datetime("us", "UTC"),
        "kind": pl.String(),
        "stream": pl.String(),
        "source_file": pl.String(),
        "file_hash": pl.String(),
        "lines_read": pl.Int64(),
        "stored": pl.Int64(),
        "duplicates": pl.Int64(),
        "quarantined": pl.Int64(),
    }
)
"""One row per file per ingest batch: `kind` is `file` (first read), `retry` (quarantined lines
of that file retried: lines_read 0, the moves between places as signed counts) or `registry`."""


@dataclass(frozen=True)
class Home:
    """The layout of a corners home folder."""

    root: Path

    def events(self, stream: str) -> Path:
        return self.root / "events" / stream

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def ingest_log(self) -> Path:
        return self.root / "ingest_log"

    @property
    def staging(self) -> Path:
        return self.root / "_staging"

    @property
    def published(self) -> Path:
        return self.root / "published"

    @property
    def notifications(self) -> Path:
        return self.root / "notifications"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    def tables(self) -> dict[str, Path]:
        """Every table corners reads with SQL, by the name `corners query` gives it."""
        named = {f"{s}": self.events(s) for s in STREAMS}
        named |= {
            "quarantine": self.quarantine,
            "registry": self.registry,
            "ingest_log": self.ingest_log,
        }
        for name in ("fit_health", "alerts", "restatements"):
            named[name] = self.published / name
        named["alert_actions"] = self.root / "alert_actions"
        named["check_results"] = self.root / "check_results"
        for name in ("outbox", "deliveries"):
            named[name] = self.notifications / name
        return named


def exists(path: Path) -> bool:
    return (path / "_delta_log").is_dir() and any((path / "_delta_log").glob("*.json"))


def scan(path: Path, schema: pl.Schema, version: int | None = None) -> pl.LazyFrame:
    """The table at `path`, or an empty frame of `schema` when it does not exist yet."""
    if not exists(path):
        return pl.LazyFrame(schema=schema)
    return pl.scan_delta(str(path), version=version)


def scan_events(home: Home, stream: str) -> pl.LazyFrame:
    return scan(home.events(stream), stream_schema(stream))


def _commit(batch: str) -> CommitProperties:
    return CommitProperties(custom_metadata={BATCH_KEY: batch})


def committed(path: Path, batch: str, depth: int = 20) -> bool:
    """Whether one of the table's last `depth` commits was made by `batch`."""
    if not exists(path):
        return False
    try:
        history = DeltaTable(str(path)).history(depth)
    except TableNotFoundError:
        return False
    return any(entry.get(BATCH_KEY) == batch for entry in history)


EVENT_FILES = WriterProperties(
    compression="LZ4_RAW",
    column_properties={
        c: ColumnProperties(dictionary_enabled=False)
        for c in ("event_id", "content_hash", "extra", "occurred_at", "line_number")
    },
)
"""Parquet settings of the event tables: their unique columns skip the dictionary a writer
would first try and give up on, which halves the cost of writing (at about the same size)."""


def append(
    path: Path, frame: pl.DataFrame, batch: str, properties: WriterProperties | None = None
) -> None:
    """Append `frame` in one commit (creating the table on first use)."""
    write_deltalake(
        str(path),
        frame.to_arrow(),
        mode="append",
        commit_properties=_commit(batch),
        writer_properties=properties,
    )


def overwrite(path: Path, frame: pl.DataFrame, batch: str) -> None:
    """Replace the table's content in one commit; earlier versions stay readable."""
    write_deltalake(
        str(path),
        frame.to_arrow(),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=_commit(batch),
    )


def merge_quarantine(path: Path, ops: pl.DataFrame, batch: str) -> None:
    """Apply quarantine changes in one commit.

    `ops` has the quarantine columns plus `_op`: `insert` a new row, `update` a retried row
    whose reasons changed, `delete` a retried row whose line now has another place.
    """
    columns = list(QUARANTINE_SCHEMA)
    if not exists(path):
        append(path, ops.filter(pl.col("_op") == "insert").select(columns), batch)
        return
    assignments = {c: f"s.{c}" for c in columns}
    (
        DeltaTable(str(path))
        .merge(
            ops.to_arrow(),
            predicate="t.file_hash = s.file_hash AND t.line_number = s.line_number",
            source_alias="s",
            target_alias="t",
            commit_properties=_commit(batch),
        )
        .when_matched_delete(predicate="s._op = 'delete'")
        .when_matched_update(updates={"reasons": "s.reasons"}, predicate="s._op = 'update'")
        .when_not_matched_insert(updates=assignments, predicate="s._op = 'insert'")
        .execute()
    )


def version(path: Path) -> int | None:
    """The table's current Delta version, or None when it does not exist."""
    return DeltaTable(str(path)).version() if exists(path) else None


def row_count(path: Path) -> int:
    """Rows in the table's current version, from the Delta log (no data file is read)."""
    if not exists(path):
        return 0
    actions = pl.DataFrame(DeltaTable(str(path)).get_add_actions(flatten=True))
    return int(actions["num_records"].sum())
