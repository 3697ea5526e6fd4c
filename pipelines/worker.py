"""What a step's process needs before it loads the definitions, imported once: the
multiprocess executor starts its steps from a fork server that has imported this module, so a
step's process begins with Dagster, its instance storage and the storage's migrations loaded
(2.6 s of imports here) instead of importing them again.

Nothing here may start a thread: a process forked from one that runs threads inherits their
locks but not the threads. polars (whose import starts its allocator's and cleaner's threads,
and whose thread pool would deadlock in a forked child), deltalake, pyarrow and Great
Expectations are therefore imported by each step itself, with the definitions;
`tests/pipelines/test_shards.py` checks that importing this module starts no thread.
"""

from __future__ import annotations

import contextlib

import alembic.command
import alembic.migration
import dagster._core.executor.multiprocess
import dagster._core.storage.event_log.sqlite
import dagster._core.storage.runs.sqlite
import dagster._core.storage.schedules.sqlite
import dagster._core.storage.sqlite_storage

with contextlib.suppress(ImportError):  # an instance on PostgreSQL
    import dagster_postgres

__all__ = ["alembic", "dagster", "dagster_postgres"]
