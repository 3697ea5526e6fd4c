"""Great Expectations suites as Dagster asset checks, each callable on frames without a
refresh.

May import: fitmodel, store, assets.
"""
