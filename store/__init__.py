"""Everything that reads or writes a home: where each table lives and what it holds (layout,
catalog), Delta I/O and locks, landing files, staging and crash recovery, ingestion,
publication and restatements, the alerts table with its acks and snoozes, the outbox and its
sinks, quality results, the report, queries, renewal gates and validation, backtests, shards.

May import: fitmodel.
"""

import os

# polars allocates through its own jemalloc, which by default hands freed pages back to the
# kernel at once and faults them in again on the next batch: a quarter of an ingest's CPU
# time was kernel time. Keeping them five seconds costs little resident memory. It must be
# set before polars first allocates: a package's `__init__` runs before any of its modules,
# so it lives here, and `assets`, `checks` and `pipelines` import `store` first. A value
# already set wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:5000,muzzy_decay_ms:5000")
