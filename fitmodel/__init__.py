"""The domain of corners, pure polars: event schema and validation rules, the fit model and
its incremental rule, refresh planning, alert episodes, which notifications are due, message
text, and the configuration model. No I/O, no Dagster.

May import: no other corners package (polars and pydantic only, never an engine, storage or
the network: `tests/test_layout.py`).
"""
