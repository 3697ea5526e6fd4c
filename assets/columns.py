"""Dagster column schemas from the catalog, so the UI shows each table's columns and their
meaning."""

from __future__ import annotations

import dagster as dg

from store.catalog import CATALOG


def column_schema(table: str) -> dict:
    """Definition metadata for an asset that writes the catalog table `table`."""
    columns = [
        dg.TableColumn(name, str(dtype), description=text)
        for name, dtype, text in CATALOG[table].columns
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}
