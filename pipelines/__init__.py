"""Dagster's Definitions, schedule and sensor, the run helpers, the instance, what a step
process preloads (`worker`), and the `corners` command line (one module per command).

May import: fitmodel, store, assets, checks.
"""

import store  # noqa: F401 - polars' allocator settings, before polars loads
