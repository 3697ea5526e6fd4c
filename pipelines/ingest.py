"""Ingestion of a landing folder into the event store (SPEC §1–§2).

An ingest runs in batches. Each batch is computed whole in memory, written to
`<home>/_staging/<batch>/` and sealed with a `BATCH` marker, then applied table by table, each
write one Delta commit tagged with the batch id. A crash before the marker leaves nothing
applied (the staging folder is discarded); a crash after it is finished by the next ingest,
which replays the staged writes that have no commit of that batch yet. So a file's lines land
exactly once, and readers only ever see whole Delta versions.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from fitmodel.config import CornersConfig
from fitmodel.events import STREAMS, stream_schema
from fitmodel.registry import RegistryError, parse_registry
from fitmodel.validate import LINE_COLUMNS, check_stream, settle_duplicates
from pipelines import store
from pipelines.progress import Progress
from pipelines.store import LOG_SCHEMA, QUARANTINE_SCHEMA, REGISTRY_SCHEMA, Home

REGISTRY_FILE = "partnerships.csv"
CRASH_ENV = "CORNERS_CRASH_AT"


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


_reached: dict[str, int] = {}


def crashpoint(name: str) -> None:
    """Test hook: SIGKILL this process at the named point when `CORNERS_CRASH_AT` names it
    (`point` for its first occurrence, `point#n` for its n-th, as in a later batch)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted or not wanted.startswith(name):
        return
    _reached[name] = _reached.get(name, 0) + 1
    if wanted in (name, f"{name}#{_reached[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)


def home_lock(home: Home) -> AbstractContextManager[None]:
    busy = IngestError(f"another corners process is writing to {home.root}")
    return store.exclusive(home.root / ".lock", busy)


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str
    stream: str
    digest: str
    size: int


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@dataclass
class Landing:
    """What a landing folder holds: event files in sorted path order, entries refused (links
    that lead outside the folder) and entries ignored (not in a stream folder, or not
    `.jsonl`/`.jsonl.gz`), each with why."""

    files: list[LandingFile]
    refused: list[str]
    ignored: list[str]


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def landing_files(landing: Path) -> Landing:
    """Walk `landing` (links are not followed into other places: one that resolves outside
    the folder is refused, naming it; one inside is skipped, its target being read where it
    is)."""
    root = landing.resolve()
    found, refused, ignored = [], [], []
    for folder, dirs, names in os.walk(landing, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs):
            path = here / name
            if path.is_symlink():
                rel = path.relative_to(landing).as_posix()
                if not _inside(path, root):
                    refused.append(f"{rel}: a link to {path.resolve()}, outside the landing folder")
                else:
                    ignored.append(f"{rel}/: a link inside the landing folder (read its target)")
        for name in names:
            path = here / name
            rel = path.relative_to(landing).as_posix()
            if rel == REGISTRY_FILE:
                continue
            if path.is_symlink() and not _inside(path, root):
                refused.append(f"{rel}: a link to {path.resolve()}, outside the landing folder")
                continue
            stream = rel.split("/", 1)[0]
            if "/" not in rel or stream not in STREAMS:
                ignored.append(f"{rel}: not in a stream folder ({', '.join(STREAMS)})")
            elif not name.endswith((".jsonl", ".jsonl.gz")):
                ignored.append(f"{rel}: not a .jsonl or .jsonl.gz file")
            elif path.is_file():
                found.append((rel, path, stream))
    found.sort()
    with ThreadPoolExecutor(max_workers=2) as pool:  # hashlib lets go of the GIL
        digests = pool.map(_digest, [path for _, path, _ in found])
        files = [
            LandingFile(path, rel, stream, digest, path.stat().st_size)
            for (rel, path, stream), digest in zip(found, digests, strict=True)
        ]
    return Landing(files, sorted(refused), sorted(ignored))


class LandingFileError(ValueError):
    """A landing file that cannot be read as lines of UTF-8 text, or is too large (left for a
    later ingest)."""


_COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"} | {
    b"\x78" + second: "zlib" for second in (b"\x01", b"\x5e", b"\x9c", b"\xda")
}
"""Magic bytes of what polars would decompress on its own (and without a bound)."""


def _compression(head: bytes) -> str | None:
    return next((kind for magic, kind in _COMPRESSED.items() if head.startswith(magic)), None)


def _contents(file: LandingFile, limit: int) -> Path | bytes:
    """The file's uncompressed bytes (or its path when it is plain text), at most `limit`
    bytes uncompressed: a larger file, whatever its compressed size, is refused before it is
    held in memory."""
    with open(file.path, "rb") as handle:
        head = handle.read(4)
    kind = _compression(head)
    megabytes = f"{limit / 1e6:g} MB"
    if kind is None:
        if file.size > limit:
            raise LandingFileError(
                f"{file.size / 1e6:,.0f} MB is over the {megabytes} limit per file "
                "(ingest.max_file_mb): split it"
            )
        return file.path
    if kind != "gzip":
        raise LandingFileError(f"{kind}-compressed: only gzip (.jsonl.gz) is read")
    try:
        with gzip.open(file.path, "rb") as stream:
            data = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise LandingFileError(f"not a readable gzip file ({exc})") from None
    if len(data) > limit:
        raise LandingFileError(
            f"expands to more than {megabytes} uncompressed, the limit per file "
            "(ingest.max_file_mb): split it"
        )
    if _compression(data[:4]):
        raise LandingFileError("compressed twice: only one layer of gzip is read")
    return data


def _not_utf8(data: bytes, gz: bool) -> LandingFileError | None:
    """Where bytes that polars refused as invalid UTF-8 stop being UTF-8 (error path only)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        where = "uncompressed byte" if gz else "byte"
        return LandingFileError(f"line {line} is not UTF-8 text ({where} {exc.start})")
    return None


def _read_lines(file: LandingFile, limit: int) -> tuple[pl.DataFrame, int]:
    """The file's non-blank lines, and its size uncompressed."""
    contents = _contents(file, limit)
    source = io.BytesIO(contents) if isinstance(contents, bytes) else contents
    try:
        frame = pl.read_lines(source, glob=False)
    except pl.exceptions.ComputeError as exc:
        data = contents if isinstance(contents, bytes) else file.path.read_bytes()
        raise (_not_utf8(data, isinstance(contents, bytes)) or exc) from None
    size = len(contents) if isinstance(contents, bytes) else file.size
    frame = frame.with_row_index("line_number", offset=1)
    # The strip copies every line; left as read, the lines raised peak memory by 450 MB.
    lines = frame.select(
        pl.lit(file.stream).alias("stream"),
        pl.lit(file.relative).alias("source_file"),
        pl.lit(file.digest).alias("file_hash"),
        pl.col("line_number").cast(pl.Int64),
        pl.col("line").str.strip_chars_end("\r"),
    ).filter(pl.col("line").str.contains(r"\S"))  # blank lines are not counted
    return lines, size


def _batches(
    files: list[LandingFile], batch_bytes: float, limit: int, errors: list[str]
) -> Iterator[tuple[list[LandingFile], list[pl.DataFrame]]]:
    """The files read in batches of about `batch_bytes` uncompressed (a file larger than that
    is a batch of its own), in order; a file that cannot be read is named in `errors` and
    left out."""
    chunk: list[LandingFile] = []
    parts: list[pl.DataFrame] = []
    size, yielded = 0, False
    for f in files:
        try:
            lines, bytes_read = _read_lines(f, limit)
        except (LandingFileError, pl.exceptions.ComputeError, OSError) as exc:
            errors.append(f"{f.relative}: cannot be read: {exc}")
            continue
        if chunk and size + bytes_read > batch_bytes:
            yield chunk, parts
            chunk, parts, size, yielded = [], [], 0, True
        chunk.append(f)
        parts.append(lines)
        size += bytes_read
    if chunk or not yielded:  # the first batch also carries the registry and the retries
        yield chunk, parts


@dataclass
class Batch:
    """Everything one batch writes, by step."""

    batch_id: str
    ingested_at: datetime
    writes: dict[str, pl.DataFrame]


def _step_target(home: Home, step: str) -> Path:
    if step.startswith("events:"):
        return home.events(step.split(":", 1)[1])
    return {
        "registry": home.registry,
        "quarantine": home.quarantine,
        "ingest_log": home.ingest_log,
    }[step]


STEP_ORDER = ("registry", *(f"events:{s}" for s in STREAMS), "quarantine", "ingest_log")


def _stage(home: Home, batch: Batch) -> Path:
    folder = home.staging / batch.batch_id
    folder.mkdir(parents=True)
    steps = [s for s in STEP_ORDER if s in batch.writes]
    for step in steps:
        batch.writes[step].write_ipc(folder / f"{step.replace(':', '-')}.arrow", compression="lz4")
        crashpoint(f"stage:{step}")
    marker = {"batch": batch.batch_id, "ingested_at": batch.ingested_at.isoformat(), "steps": steps}
    tmp = folder / "BATCH.tmp"
    tmp.write_text(json.dumps(marker))
    with open(tmp) as handle:
        os.fsync(handle.fileno())
    crashpoint("stage:sealing")
    os.replace(tmp, folder / "BATCH")
    crashpoint("stage:sealed")
    return folder


def _apply(home: Home, folder: Path, frames: dict[str, pl.DataFrame] | None = None) -> None:
    """Apply a sealed batch. `frames` are its writes when still in memory; a replay after a
    crash reads them from the staged files."""
    marker = json.loads((folder / "BATCH").read_text())
    batch = marker["batch"]
    for step in marker["steps"]:
        target = _step_target(home, step)
        crashpoint(f"apply:{step}:before")
        # A batch still in memory is being applied for the first time.
        if frames is not None or not store.committed(target, batch):
            frame = (frames or {}).get(step)
            if frame is None:
                frame = pl.read_ipc(folder / f"{step.replace(':', '-')}.arrow")
            if step == "registry":
                store.overwrite(target, frame, batch)
            elif step == "quarantine":
                store.merge_quarantine(target, frame, batch)
            elif step.startswith("events:"):
                store.append(target, frame, batch, store.EVENT_FILES)
            else:
                store.append(target, frame, batch)
        crashpoint(f"apply:{step}:after")
    (folder / "BATCH").unlink()
    crashpoint("cleanup:unsealed")
    shutil.rmtree(folder)
    crashpoint("cleanup:done")


def recover(home: Home) -> int:
    """Finish sealed batches left by a crash and discard unsealed ones; returns how many."""
    if not home.staging.is_dir():
        return 0
    finished = 0
    for folder in sorted(p for p in home.staging.iterdir() if p.is_dir()):
        if (folder / "BATCH").is_file():
            _apply(home, folder)
            finished += 1
        else:
            shutil.rmtree(folder)
    return finished


def current_registry(home: Home) -> pl.DataFrame:
    return store.scan(home.registry, REGISTRY_SCHEMA).collect()


def _load_registry(
    landing: Path, home: Home, now: datetime, report: IngestReport
) -> pl.DataFrame | None:
    """The landing folder's registry when it is new and valid, else None (errors reported)."""
    path = landing / REGISTRY_FILE
    if path.is_symlink() and not _inside(path, landing.resolve()):
        report.errors.append(
            f"{REGISTRY_FILE}: a link to {path.resolve()}, outside the landing folder: refused, "
            "not read"
        )
        return None
    if not path.is_file():
        return None
    digest = _digest(path)
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
        store.scan(home.quarantine, QUARANTINE_SCHEMA)
        .filter(pl.col("reasons") == pl.lit(["unknown_partnership"]))
        .sort("ingested_at", "source_file", "file_hash", "line_number")  # the order first read
        .select("stream", "source_file", "file_hash", "line_number", "line")
        .collect()
    )


@dataclass
class StoredIds:
    """The `event_id`, `content_hash` of the stored events, for the duplicate rules.

    The tables are read as of the ingest's start (their versions pinned); what this ingest
    stored since is kept in memory, so a batch does not rescan the earlier batches' events."""

    versions: dict[str, int | None]
    recent: list[pl.DataFrame] = field(default_factory=list)

    @classmethod
    def pin(cls, home: Home) -> StoredIds:
        return cls({s: store.version(home.events(s)) for s in STREAMS})

    def lookup(self, home: Home, ids: pl.Series) -> pl.DataFrame:
        wanted = pl.DataFrame({"event_id": ids.unique()})
        found = [
            pl.scan_delta(str(home.events(s)), version=v)
            .select("event_id", "content_hash")
            .join(wanted.lazy(), on="event_id", how="semi")
            for s, v in self.versions.items()
            if v is not None
        ]
        if self.recent:
            # Probe by a 64-bit hash of the id first (integers are cheap to probe), then
            # compare the few ids that share one.
            keys = wanted["event_id"].hash().implode()
            found += [
                frame.lazy()
                .filter(pl.col("key").is_in(keys))
                .join(wanted.lazy(), on="event_id", how="semi")
                .select("event_id", pl.col("content_hash").bin.encode("hex"))
                for frame in self.recent
            ]
        if not found:
            return pl.DataFrame(schema={"event_id": pl.String(), "content_hash": pl.String()})
        return pl.concat(found).collect()

    def add(self, batch: Batch) -> None:
        for step, frame in batch.writes.items():
            if step.startswith("events:"):
                # A compact copy (string views would keep the batch's buffers alive), with the
                # hex digest as its 16 bytes.
                ids = pl.from_arrow(frame.select("event_id").to_arrow().cast(_COMPACT))
                self.recent.append(
                    ids.with_columns(
                        pl.col("event_id").hash().alias("key"),
                        frame["content_hash"].str.decode("hex").alias("content_hash"),
                    )
                )


_COMPACT = pa.schema([("event_id", pa.large_string())])


def _build_batch(
    home: Home,
    stored: StoredIds,
    lines: pl.DataFrame,
    retried: int,
    registry: pl.DataFrame | None,
    ids: pl.Series,
    config: CornersConfig,
    now: datetime,
) -> Batch:
    """Validate `lines` (the first `retried` are quarantine retries) into the batch's writes;
    `ids` are the partnerships of the registry in force."""
    batch_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    lines = lines.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
    checks = {"registry_ids": ids, "ingested_at": now, "config": config.ingest}
    checked = pl.concat(
        [
            check_stream(
                lines.filter(pl.col("stream") == s).select(list(LINE_COLUMNS)), s, **checks
            )
            for s in lines["stream"].unique(maintain_order=True).to_list() or [STREAMS[0]]
        ],
        how="diagonal",
    )
    if not checked["rank"].is_sorted():
        checked = checked.sort("rank")
    if checked.height != lines.height or not checked["rank"].equals(lines["rank"]):
        # Nothing of the batch is written: every line read must have exactly one outcome.
        raise AccountingError(
            f"validation returned {checked.height} outcome(s) for {lines.height} line(s) of "
            f"{lines['source_file'].unique().sort().to_list()}; nothing of this batch was stored"
        )
    candidates = checked.filter(pl.col("event_id").is_not_null())["event_id"]
    settled = settle_duplicates(checked, stored.lookup(home, candidates)).with_columns(
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
        pl.lit(batch_id).alias("ingest_batch"),
        (pl.col("rank") < retried).alias("retry"),
    )

    writes: dict[str, pl.DataFrame] = {}
    if registry is not None:
        writes["registry"] = registry
    for stream in STREAMS:
        rows = settled.filter((pl.col("outcome") == "stored") & (pl.col("stream") == stream))
        if rows.height:
            writes[f"events:{stream}"] = rows.select(list(stream_schema(stream)))

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
    ops = settled.with_columns(op).filter(pl.col("_op").is_not_null())
    if ops.height:
        writes["quarantine"] = ops.select(*QUARANTINE_SCHEMA, "_op")

    # Lines read are counted from the lines as read, not from what validation returned, so the
    # accounting check can catch a line that validation lost.
    read = lines.group_by("file_hash", (pl.col("rank") < retried).alias("retry")).agg(
        pl.col("stream").first(), pl.col("source_file").first(), pl.len().alias("read")
    )
    outcomes = settled.group_by("file_hash", "retry").agg(
        *[
            (pl.col("outcome") == outcome).sum().alias(name)
            for outcome, name in [
                ("stored", "stored"),
                ("duplicate", "duplicates"),
                ("quarantined", "quarantined"),
            ]
        ],
    )
    counts = (
        read.join(outcomes, on=["file_hash", "retry"], how="left", maintain_order="left")
        .with_columns(pl.col("stored", "duplicates", "quarantined").fill_null(0))
        .with_columns(pl.col("read", "stored", "duplicates", "quarantined").cast(pl.Int64))
    )
    log = counts.select(
        pl.lit(batch_id).alias("ingest_batch"),
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
        pl.when(pl.col("retry")).then(pl.lit("retry")).otherwise(pl.lit("file")).alias("kind"),
        "stream",
        "source_file",
        "file_hash",
        pl.when(pl.col("retry")).then(0).otherwise(pl.col("read")).alias("lines_read"),
        "stored",
        "duplicates",
        pl.when(pl.col("retry"))
        .then(pl.col("quarantined") - pl.col("read"))
        .otherwise(pl.col("quarantined"))
        .alias("quarantined"),
    ).cast(dict(LOG_SCHEMA))
    # A retry that moved nothing is not worth a log row.
    log = log.filter((pl.col("kind") == "file") | (pl.col("stored") + pl.col("duplicates") > 0))
    if log.height:
        writes["ingest_log"] = log
    return Batch(batch_id, now, writes)


def _empty_lines() -> pl.DataFrame:
    return pl.DataFrame(schema={k: v for k, v in LINE_COLUMNS.items() if k != "rank"})


def _commit_batch(home: Home, batch: Batch) -> None:
    if not batch.writes:
        return
    folder = _stage(home, batch)
    _apply(home, folder, batch.writes)


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
        logs = []
        lines_done = 0
        files_done = 0
        # Batch k is committed in a second thread while batch k + 1 is read and validated; one
        # commit at a time, in order, so a sealed batch always follows its predecessor's commit.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as committer:
            committing: Future[None] | None = None
            limit = int(config.ingest.max_file_mb * 1e6)
            batches = _batches(fresh, config.ingest.batch_mb * 1e6, limit, report.errors)
            for index, (chunk, read) in enumerate(batches):
                parts = [_retry_lines(home), *read] if index == 0 else read
                retried = parts[0].height if index == 0 else 0
                lines = pl.concat(parts) if parts else _empty_lines()
                reg = registry if index == 0 else None
                if lines.height == 0 and reg is None and not chunk:
                    continue
                batch = _build_batch(home, stored, lines, retried, reg, ids, config, now)
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


def _ingested_hashes(home: Home) -> pl.Series:
    return (
        store.scan(home.ingest_log, LOG_SCHEMA)
        .filter(pl.col("kind") == "file")
        .select("file_hash")
        .collect()["file_hash"]
    )


def accounting(home: Home) -> pl.DataFrame:
    """Per ingested file: lines read against where they are now (events, duplicates, quarantine)."""
    log = (
        store.scan(home.ingest_log, LOG_SCHEMA)
        .group_by("file_hash")
        .agg(
            pl.col("source_file").first(),
            pl.col("lines_read").sum(),
            pl.col("duplicates").sum(),
            pl.col("stored").sum().alias("logged_stored"),
            pl.col("quarantined").sum().alias("logged_quarantined"),
        )
    )
    stored = (
        pl.concat([store.scan_events(home, s).select("file_hash") for s in STREAMS])
        .group_by("file_hash")
        .agg(pl.len().cast(pl.Int64).alias("stored"))
    )
    quarantined = (
        store.scan(home.quarantine, QUARANTINE_SCHEMA)
        .group_by("file_hash")
        .agg(pl.len().cast(pl.Int64).alias("quarantined"))
    )
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
    table = accounting(home)
    if file_hashes is not None:
        table = table.filter(pl.col("file_hash").is_in(file_hashes.implode()))
    bad = table.filter(~pl.col("balanced"))
    if bad.height:
        rows = "\n".join(
            f"  {r['source_file']}: read {r['lines_read']} != stored {r['stored']} + duplicates "
            f"{r['duplicates']} + quarantined {r['quarantined']}"
            for r in bad.iter_rows(named=True)
        )
        raise AccountingError(f"accounting mismatch after ingest:\n{rows}")
    return table
