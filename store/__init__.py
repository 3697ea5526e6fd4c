"""Everything that reads or writes a home: where each table lives and what it holds (layout,
catalog), Delta I/O and locks, landing files, staging and crash recovery, ingestion,
publication and restatements, the alerts table with its acks and snoozes, the outbox and its
sinks, quality results, the report, queries, renewal gates and validation, backtests, shards.

May import: fitmodel.
"""
