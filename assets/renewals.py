"""The renewal gates and the validation of the fit score: candidates computed after the
alerts, audited, then published (SPEC §10)."""

import dagster as dg

from assets.alerts import alerts
from assets.columns import table_spec
from assets.guard import failing_for_good
from assets.resources import CornersResource
from store import renewals as store


def _spec(name: str, **kwargs) -> dg.AssetSpec:
    return table_spec(name, name, "validation", **kwargs)


def _auc(frame) -> dict:
    return {
        f"auc_{row['horizon_days']}d": row["auc"] if row["auc"] is not None else "null"
        for row in frame.iter_rows(named=True)
    }


@dg.multi_asset(
    specs=[
        _spec("renewal_gates_candidate", deps=[alerts]),
        _spec("validation_candidate", deps=[alerts]),
    ],
    name="renewal_candidates",
)
@failing_for_good
def renewal_candidates(context: dg.AssetExecutionContext, corners: CornersResource):
    """Compute the gates and the validation of the publication just made."""
    renewals = store.compute(corners.layout, corners.settings)
    store.write_candidates(corners.layout, renewals)
    context.log.info(f"{renewals.gates.height} gates through {renewals.as_of}")
    yield dg.MaterializeResult(
        asset_key="renewal_gates_candidate",
        metadata={"dagster/row_count": renewals.gates.height, "as_of": str(renewals.as_of)},
    )
    yield dg.MaterializeResult(
        asset_key="validation_candidate",
        metadata={"dagster/row_count": renewals.validation.height, **_auc(renewals.validation)},
    )


@dg.multi_asset(
    specs=[
        _spec("renewal_gates", deps=["renewal_gates_candidate"]),
        _spec("validation", deps=["validation_candidate"]),
    ],
    name="renewal_publication",
)
@failing_for_good
def renewal_publication(context: dg.AssetExecutionContext, corners: CornersResource):
    """Publish the audited candidates."""
    renewals = store.read_candidates(corners.layout)
    store.publish(corners.layout, renewals)
    home = corners.layout
    yield dg.MaterializeResult(
        asset_key="renewal_gates",
        metadata={
            "dagster/row_count": renewals.gates.height,
            "path": dg.MetadataValue.path(str(home.path("renewal_gates"))),
        },
    )
    yield dg.MaterializeResult(
        asset_key="validation",
        metadata={
            "dagster/row_count": renewals.validation.height,
            "as_of": str(renewals.as_of),
            **_auc(renewals.validation),
            "path": dg.MetadataValue.path(str(home.path("validation"))),
        },
    )
