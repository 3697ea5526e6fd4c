"""Crash-safe application of an ingest batch to several Delta tables.

A batch is computed whole in memory, written to `<home>/_staging/<batch>/` and sealed with a
`BATCH` marker, then applied table by table, each write one Delta commit tagged with the batch
id. A crash before the marker leaves nothing applied (the staging folder is discarded); a
crash after it is finished by the next ingest (`recover`), which replays the staged writes
that have no commit of that batch yet.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from fitmodel.domain import STREAMS
from store import delta
from store.crash import crashpoint
from store.home import Home


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


def stage(home: Home, batch: Batch) -> Path:
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


def apply(home: Home, folder: Path, frames: dict[str, pl.DataFrame] | None = None) -> None:
    """Apply a sealed batch. `frames` are its writes when still in memory; a replay after a
    crash reads them from the staged files."""
    marker = json.loads((folder / "BATCH").read_text())
    batch = marker["batch"]
    for step in marker["steps"]:
        target = _step_target(home, step)
        crashpoint(f"apply:{step}:before")
        # A batch still in memory is being applied for the first time.
        if frames is not None or not delta.committed(target, batch):
            frame = (frames or {}).get(step)
            if frame is None:
                frame = pl.read_ipc(folder / f"{step.replace(':', '-')}.arrow")
            if step == "registry":
                delta.overwrite(target, frame, batch)
            elif step == "quarantine":
                delta.merge_quarantine(target, frame, batch)
            elif step.startswith("events:"):
                delta.append(target, frame, batch, delta.EVENT_FILES)
            else:
                delta.append(target, frame, batch)
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
            apply(home, folder)
            finished += 1
        else:
            shutil.rmtree(folder)
    return finished
