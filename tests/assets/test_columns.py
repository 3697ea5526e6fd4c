"""What the Dagster UI shows of each asset: its grain, and the columns of the table it writes
with their meanings, all from the catalog."""

from __future__ import annotations

import pytest

from assets.resources import CornersResource
from fitmodel.config import parse_config
from pipelines.definitions import build_definitions
from store.catalog import CATALOG


@pytest.mark.parametrize("shards", [1, 3])
def test_every_asset_shows_its_grain_and_the_columns_of_a_table_it_writes(shards, tmp_path):
    config = parse_config({"scale": {"shards": shards}})
    graph = build_definitions(config, CornersResource(home=str(tmp_path))).resolve_asset_graph()
    written: dict[str, list] = {}
    for table in CATALOG.values():
        if table.asset:
            written.setdefault(table.asset, []).append(table)
    keys = graph.get_all_asset_keys()
    assert len(keys) >= 13 + 2 * (shards > 1) * shards
    for key in keys:
        node, name = graph.get(key), key.to_user_string()
        assert node.description.startswith("One "), name  # the grain first
        schema = node.metadata.get("dagster/column_schema")
        tables = written.get(name) or written.get(name.rsplit("_shard_", 1)[0], [])
        if not tables:  # the report: a file, not a table
            assert schema is None, name
            continue
        names = [c.name for c in schema.columns]
        same = [t for t in tables if t.name == name.rsplit("_shard_", 1)[0]]
        assert names in [list(t.schema) for t in same or tables], name  # its namesake first
        assert all(c.description for c in schema.columns), name
