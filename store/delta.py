"""The Delta Lake operations on a home's tables, and the locks that keep writers apart.

Every write is one Delta commit tagged with the ingest batch that made it (commit metadata
`corners_batch`), so a replayed batch can tell which of its writes already landed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    WriterProperties,
    write_deltalake,
)
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from store.catalog import CATALOG, QUARANTINE_SCHEMA
from store.home import Home

if TYPE_CHECKING:
    import pyarrow as pa


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


def held(lock: Path) -> bool:
    """Whether another process holds the lock on the file `lock` now."""
    if not lock.is_file():
        return False
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


DAY = "as_of"


def write_days(
    path: Path,
    days: Iterable[pa.Table],
    schema: pa.Schema,
    *,
    start: date | None,
    commit: CommitProperties,
) -> None:
    """Write rows partitioned by day, a Parquet file per day as each day's table arrives,
    and commit them in one Delta transaction: in place of every day (`start` None) or of
    the days from `start` on. Only one day is held at a time: delta-rs' own partitioned
    writer keeps a writer per partition open until the end, about 3 MB each whatever the
    rows, and buffers rows arriving in no day order (14 GB for 1,095 days of 10,000
    partnerships; docs/design.md)."""
    # Here, not at the top: the commands that only read (alerts, explain, query) start
    # 0.1 s sooner without pyarrow.
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_schema = DeltaSchema.from_arrow(schema)
    file_schema = pa.schema([f for f in pa.schema(table_schema.to_arrow()) if f.name != DAY])

    def write(table: pa.Table) -> AddAction:
        day = table[DAY][0].as_py()
        target = _day_file(path, day)
        pq.write_table(
            table.drop_columns([DAY]).select(file_schema.names).cast(file_schema),
            target,
            compression="snappy",
        )
        return _added(path, target, day, table.num_rows)

    actions: list[AddAction] = []
    # Two days are encoded at once (Parquet's writer releases the GIL), at most four held.
    with ThreadPoolExecutor(2) as pool:
        pending: deque = deque()
        for table in days:
            if table.num_rows:
                pending.append(pool.submit(write, table))
            while len(pending) > 4:
                actions.append(pending.popleft().result())
        actions += [job.result() for job in pending]
    commit_days(path, actions, table_schema, start=start, commit=commit)


def adopt_days(
    path: Path,
    files: Iterable[tuple[date, Path, int]],
    schema: pa.Schema,
    *,
    start: date | None,
    commit: CommitProperties,
) -> None:
    """Commit, as `write_days` would, day files another table already holds: (day, file,
    rows), each a Parquet file of `schema` without its day column. Each is hard-linked into
    this table's folder (copied where the two are on different file systems), so it stays
    unreferenced until the commit, and the other table can be replaced or removed after."""
    actions = []
    for day, source, rows in files:
        target = _day_file(path, day)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        actions.append(_added(path, target, day, rows))
    commit_days(path, actions, DeltaSchema.from_arrow(schema), start=start, commit=commit)


def _day_file(path: Path, day: date) -> Path:
    """A new data file's place in the folder of `day`."""
    target = path / f"{DAY}={day.isoformat()}" / f"part-{uuid.uuid4().hex}.snappy.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _added(path: Path, target: Path, day: date, rows: int) -> AddAction:
    relative = target.relative_to(path).as_posix()
    stats = json.dumps({"numRecords": rows})
    stamp = int(time.time() * 1000)
    return AddAction(relative, target.stat().st_size, {DAY: day.isoformat()}, stamp, True, stats)


def commit_days(
    path: Path,
    actions: list[AddAction],
    table_schema: DeltaSchema,
    *,
    start: date | None,
    commit: CommitProperties,
) -> None:
    """One Delta commit of the day files `actions`: in place of every day (`start` None) or
    of the days from `start` on."""
    if not exists(path):
        path.mkdir(parents=True, exist_ok=True)
        create_table_with_add_actions(
            str(path), table_schema, actions, mode="overwrite", partition_by=[DAY],
            commit_properties=commit,
        )  # fmt: skip
        return
    filters = [(DAY, ">=", start.isoformat())] if start is not None else None
    DeltaTable(str(path)).create_write_transaction(
        actions, "overwrite", table_schema, [DAY], filters, commit_properties=commit
    )


BATCH_KEY = "corners_batch"


def exists(path: Path) -> bool:
    return (path / "_delta_log").is_dir() and any((path / "_delta_log").glob("*.json"))


def scan(path: Path, schema: pl.Schema, version: int | None = None) -> pl.LazyFrame:
    """The table at `path` (as of `version`), or an empty frame of `schema` when it does not
    exist yet.

    Its Parquet files as the Delta log lists them, read by polars' Parquet scan with their
    row-group statistics, as `pl.scan_delta` does for tables like ours (no deletion vectors,
    no column mapping) but without importing pyarrow, which its Delta scan does on collect
    (about 0.12 s of every interactive command's start)."""
    if not exists(path):
        return pl.LazyFrame(schema=schema)
    table = DeltaTable(str(path), version=version)
    own = pl.Schema(table.schema())  # the table's own columns, which may be another release's
    files = table.file_uris()
    if not files:
        return pl.LazyFrame(schema=own)
    partitions = table.metadata().partition_columns
    return pl.scan_parquet(
        files,
        hive_partitioning=bool(partitions),
        hive_schema={c: schema[c] for c in partitions} or None,
        missing_columns="insert",
        extra_columns="ignore",
    ).select(list(own))  # partition columns where the Delta schema has them


def scan_table(home: Home, name: str, version: int | None = None) -> pl.LazyFrame:
    """The catalog table `name` of `home`, or an empty frame of its columns."""
    return scan(home.path(name), CATALOG[name].schema, version)


def scan_events(home: Home, stream: str) -> pl.LazyFrame:
    return scan_table(home, stream)


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
    """Replace the table's content in one commit tagged with `batch`."""
    replace(path, frame, _commit(batch))


def replace(path: Path, frame: pl.DataFrame, commit: CommitProperties | None = None) -> None:
    """Replace the table's content (and columns) in one commit; earlier versions stay
    readable."""
    write_deltalake(
        str(path),
        frame.to_arrow(),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=commit,
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


def days(path: Path) -> list[date]:
    """The days a table partitioned by day holds, oldest first, from its Delta log (no data
    file is read); [] when it does not exist."""
    if not exists(path):
        return []
    return sorted({date.fromisoformat(p[DAY]) for p in DeltaTable(str(path)).partitions()})
