"""Ingest assets: the landing folder into the registry, the event tables and quarantine."""

import dagster as dg
import polars as pl

from assets.columns import table_spec
from assets.guard import alone, failing_for_good
from assets.resources import CornersResource
from fitmodel.domain import STREAMS
from store import delta
from store.ingest import ingest
from store.layout import EVENT_ASSETS


def _spec(name: str, table: str) -> dg.AssetSpec:
    """The asset of a catalog table written by the ingest step."""
    return table_spec(name, table, "ingest")


SPECS = [
    _spec("partnership_registry", "registry"),
    *[_spec(EVENT_ASSETS[s], s) for s in STREAMS],
    _spec("quarantine", "quarantine"),
]


@dg.multi_asset(specs=SPECS, name="landing_ingest")
@failing_for_good
def landing_ingest(context: dg.AssetExecutionContext, corners: CornersResource):
    """Ingest new landing files (exactly once, accounted per file)."""
    alone(context, corners.layout)
    home = corners.layout
    report = ingest(home, corners.landing_dir, corners.settings)
    totals = report.totals()
    for error in report.errors:
        context.log.error(error)
    for entry in report.ignored:
        context.log.warning(f"ignored: {entry}")
    new_by_stream = dict(
        report.files.filter(pl.col("kind") == "file")
        .group_by("stream")
        .agg(pl.col("stored").sum())
        .iter_rows()
    )
    registry = delta.scan_table(home, "registry").collect()
    yield dg.MaterializeResult(
        asset_key="partnership_registry",
        metadata={
            "partnerships": registry.height,
            "replaced_this_run": report.registry_rows is not None,
            "rejected": dg.MetadataValue.md("\n\n".join(report.errors) or "none"),
        },
    )
    for stream in STREAMS:
        rows = delta.scan_events(home, stream).select(pl.len()).collect().item()
        yield dg.MaterializeResult(
            asset_key=EVENT_ASSETS[stream],
            metadata={
                "dagster/row_count": rows,
                "events_ingested": int(new_by_stream.get(stream, 0)),
                "path": dg.MetadataValue.path(str(home.events(stream))),
            },
        )
    quarantine = delta.scan_table(home, "quarantine").collect()
    by_reason = (
        quarantine.select(pl.col("reasons").explode()).group_by("reasons").len().sort("reasons")
    )
    yield dg.MaterializeResult(
        asset_key="quarantine",
        metadata={
            "dagster/row_count": quarantine.height,
            "quarantined_this_run": totals["quarantined"],
            "lines_read_this_run": totals["lines_read"],
            "duplicates_this_run": totals["duplicates"],
            "by_reason": dg.MetadataValue.json(dict(by_reason.iter_rows())),
        },
    )
