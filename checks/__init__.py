"""Great Expectations suites as Dagster asset checks, each callable on frames without a
refresh.

May import: fitmodel, store, assets.
"""

import store  # noqa: F401 - polars' allocator settings, before polars loads
