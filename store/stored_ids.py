"""The ids and content hashes of stored events, for the duplicate rules of an ingest."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from fitmodel.domain import STREAMS
from store import delta
from store.home import Home
from store.staging import Batch


@dataclass
class StoredIds:
    """The `event_id`, `content_hash` of the stored events, for the duplicate rules.

    The tables are read as of the ingest's start (their versions pinned); what this ingest
    stored since is kept in memory, so a batch does not rescan the earlier batches' events."""

    versions: dict[str, int | None]
    recent: list[pl.DataFrame] = field(default_factory=list)

    @classmethod
    def pin(cls, home: Home) -> StoredIds:
        return cls({s: delta.version(home.events(s)) for s in STREAMS})

    def lookup(self, home: Home, ids: pl.Series) -> pl.DataFrame:
        wanted = pl.DataFrame({"event_id": ids.unique()})
        # A filter, not a join, so the scan reads content hashes for the matching rows only.
        among = pl.col("event_id").is_in(wanted["event_id"].implode())
        found = [
            delta.scan_table(home, s, version=v).select("event_id", "content_hash").filter(among)
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
