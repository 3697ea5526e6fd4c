"""Dagster's Definitions, schedule and sensor, the run helpers, the instance, what a step
process preloads (`worker`), and the `corners` command line (one module per command).

May import: fitmodel, store, assets, checks.
"""

import os

# polars allocates through its own jemalloc, which by default hands freed pages back to the
# kernel at once and faults them in again on the next batch: a quarter of an ingest's CPU
# time was kernel time. Keeping them five seconds costs little resident memory. It must be
# set before polars first allocates, which is why it lives here; a value already set wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:5000,muzzy_decay_ms:5000")
