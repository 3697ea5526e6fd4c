"""Ingest assets: the landing folder into the registry, the event tables and quarantine."""

import dagster as dg
import polars as pl

from fitmodel.events import STREAMS
from pipelines import store
from pipelines.ingest import ingest
from pipelines.resources import CornersResource
from pipelines.store import QUARANTINE_SCHEMA, REGISTRY_SCHEMA

EVENT_ASSETS = {
    "meetings": "meeting_events",
    "escalations": "escalation_events",
    "communications": "communication_events",
    "surveys": "survey_events",
}
GRAINS = {
    "meetings": "One row per meeting event",
    "escalations": "One row per escalation_opened or escalation_resolved event",
    "communications": "One row per communication event",
    "surveys": "One row per survey response",
}

SPECS = [
    dg.AssetSpec(
        "partnership_registry",
        group_name="ingest",
        description="One row per partnership: the newest valid partnerships.csv (Delta).",
    ),
    *[
        dg.AssetSpec(
            EVENT_ASSETS[s],
            group_name="ingest",
            description=f"{GRAINS[s]}, append-only, deduplicated by event_id (Delta events/{s}).",
        )
        for s in STREAMS
    ],
    dg.AssetSpec(
        "quarantine",
        group_name="ingest",
        description="One row per rejected landing line, with file, line number, raw line and "
        "every reason (Delta).",
    ),
]


@dg.multi_asset(specs=SPECS, name="landing_ingest")
def landing_ingest(context: dg.AssetExecutionContext, corners: CornersResource):
    """Ingest new landing files (exactly once, accounted per file)."""
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
    registry = store.scan(home.registry, REGISTRY_SCHEMA).collect()
    yield dg.MaterializeResult(
        asset_key="partnership_registry",
        metadata={
            "partnerships": registry.height,
            "replaced_this_run": report.registry_rows is not None,
            "rejected": dg.MetadataValue.md("\n\n".join(report.errors) or "none"),
        },
    )
    for stream in STREAMS:
        rows = store.scan_events(home, stream).select(pl.len()).collect().item()
        yield dg.MaterializeResult(
            asset_key=EVENT_ASSETS[stream],
            metadata={
                "dagster/row_count": rows,
                "events_ingested": int(new_by_stream.get(stream, 0)),
                "path": dg.MetadataValue.path(str(home.events(stream))),
            },
        )
    quarantine = store.scan(home.quarantine, QUARANTINE_SCHEMA).collect()
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
