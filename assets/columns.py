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


def table_spec(name: str, table: str, group: str, **kwargs) -> dg.AssetSpec:
    """The asset `name` of the catalog table `table`: its grain, path and columns."""
    entry = CATALOG[table]
    return dg.AssetSpec(
        name,
        group_name=group,
        description=f"{entry.grain} (Delta {entry.path}).",
        metadata=column_schema(table),
        **kwargs,
    )
