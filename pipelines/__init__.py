"""Orchestration, storage and the `corners` command line."""

import os

# polars allocates through its own jemalloc, which by default hands freed pages back to the
# kernel at once and faults them in again on the next batch: a third of an ingest's time was
# kernel time. Keeping freed pages for five seconds costs little resident memory. It must be set
# before polars first allocates, which is why it lives here, and a value already set wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:5000,muzzy_decay_ms:5000")
