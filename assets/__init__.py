"""The Dagster assets (thin: each calls `store`), the resource, and the column schemas the UI
shows, from the catalog.

May import: fitmodel, store.
"""

import store  # noqa: F401 - polars' allocator settings, before polars loads
