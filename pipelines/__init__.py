"""Orchestration, storage and the `corners` command line."""
