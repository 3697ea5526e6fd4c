"""A landing folder: which files it holds, and their lines.

Files are found under the stream folders and read as lines of UTF-8 text, each at most
`ingest.max_file_mb` uncompressed (a `.jsonl.gz` that expands past it is refused before it is
held in memory). A link that resolves outside the landing folder is refused, naming it; an
entry outside the stream folders or without a `.jsonl`/`.jsonl.gz` name is listed as ignored.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from fitmodel.domain import STREAMS

REGISTRY_FILE = "partnerships.csv"


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str
    stream: str
    digest: str
    size: int


def file_digest(path: Path) -> str:
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


def inside(path: Path, root: Path) -> bool:
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
                if not inside(path, root):
                    refused.append(f"{rel}: a link to {path.resolve()}, outside the landing folder")
                else:
                    ignored.append(f"{rel}/: a link inside the landing folder (read its target)")
        for name in names:
            path = here / name
            rel = path.relative_to(landing).as_posix()
            if rel == REGISTRY_FILE:
                continue
            if path.is_symlink() and not inside(path, root):
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
        digests = pool.map(file_digest, [path for _, path, _ in found])
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


def read_batches(
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
