"""Checks on the renewal gates and the validation, before they are published (blocking), and
a list of the decisions that count for no gate (not blocking)."""

import dagster as dg
import polars as pl

from assets.resources import CornersResource
from checks.ge import Check, GreatExpectations, expect, recorded, run_checks
from fitmodel.validation import BANDS
from store import renewals as store

GATE_CHECKS = [
    Check(
        "renewal_gates_one_row_per_partnership_and_gate",
        "gates",
        (
            expect("ExpectCompoundColumnsToBeUnique", column_list=["partnership_id", "gate_on"]),
            expect("ExpectColumnValuesToNotBeNull", column="gate_on"),
        ),
        "At most one row per partnership and gate.",
    ),
    Check(
        "renewal_gates_outcome_matches_the_standing_decisions",
        "gates",
        (expect("ExpectColumnPairValuesToBeEqual", column_A="outcome", column_B="expected"),),
        "Each gate's outcome is the rule's outcome of its two standing decisions.",
    ),
]
VALIDATION_CHECKS = [
    Check(
        "validation_counts_add_up",
        "validation",
        (expect("ExpectColumnValuesToBeInSet", column="counts_add_up", value_set=[True]),),
        "failures ≤ scored ≤ decided gates; the bands' gates and failures add up to them.",
    ),
    Check(
        "validation_auc_between_0_and_1",
        "validation",
        (
            expect("ExpectColumnValuesToBeBetween", column="auc", min_value=0, max_value=1),
            expect("ExpectColumnValuesToBeBetween", column="nan_auc", max_value=0),
        ),
        "AUC is within [0, 1] or null (never NaN).",
    ),
]
NO_GATE = Check(
    "renewal_decisions_for_no_gate",
    "stray",
    (expect("ExpectColumnValuesToBeNull", column="event_id"),),
    "Lists the stored decisions whose gate_on is not a gate of their partnership: they count "
    "for no gate.",
)


def _expected_outcome() -> pl.Expr:
    """The outcome rule again, written independently of the model's."""
    a, b = pl.col("decision_a").fill_null(""), pl.col("decision_b").fill_null("")
    return (
        pl.when((a == "exit") | (b == "exit"))
        .then(pl.lit("exited"))
        .when((a == "restructure") | (b == "restructure"))
        .then(pl.lit("restructured"))
        .when((a == "reaffirm") & (b == "reaffirm"))
        .then(pl.lit("reaffirmed"))
        .otherwise(pl.lit("unconfirmed"))
    )


def _counts_add_up() -> pl.Expr:
    gates = pl.sum_horizontal(pl.col(f"{b}_gates") for b in BANDS)
    failures = pl.sum_horizontal(pl.col(f"{b}_failures") for b in BANDS)
    each = pl.all_horizontal(pl.col(f"{b}_failures") <= pl.col(f"{b}_gates") for b in BANDS)
    return (
        (pl.col("failures") <= pl.col("scored_gates"))
        & (pl.col("scored_gates") <= pl.col("decided_gates"))
        & (gates == pl.col("scored_gates"))
        & (failures == pl.col("failures"))
        & each
    )


def audit_renewals(gates: pl.DataFrame, validation: pl.DataFrame) -> list[dg.AssetCheckResult]:
    """The blocking checks of the candidates, on frames."""
    frames = {
        "gates": gates.select(
            "partnership_id", "gate_on", "outcome", _expected_outcome().alias("expected")
        ),
        "validation": validation.select(
            "horizon_days",
            "auc",
            pl.col("auc").is_nan().fill_null(False).cast(pl.Int64).alias("nan_auc"),
            _counts_add_up().fill_null(False).alias("counts_add_up"),
        ),
    }
    keys = {"gates": ["partnership_id", "gate_on"], "validation": ["horizon_days"]}
    return run_checks(frames, [*GATE_CHECKS, *VALIDATION_CHECKS], keys)


@dg.multi_asset_check(
    specs=[
        *[
            dg.AssetCheckSpec(
                c.name, asset="renewal_gates_candidate", blocking=True, description=c.description
            )
            for c in GATE_CHECKS
        ],
        *[
            dg.AssetCheckSpec(
                c.name, asset="validation_candidate", blocking=True, description=c.description
            )
            for c in VALIDATION_CHECKS
        ],
        dg.AssetCheckSpec(
            NO_GATE.name, asset="renewal_gates_candidate", description=NO_GATE.description
        ),
    ],
)
def renewal_checks(corners: CornersResource, great_expectations: GreatExpectations):
    home = corners.layout
    renewals = store.read_candidates(home)
    stray = store.decisions_for_no_gate(home, corners.settings)
    listed = run_checks(
        {"stray": stray}, [NO_GATE], {"stray": ["event_id", "partnership_id", "gate_on"]}
    )
    asset = {c.name: "renewal_gates_candidate" for c in [*GATE_CHECKS, NO_GATE]}
    asset |= {c.name: "validation_candidate" for c in VALIDATION_CHECKS}
    results = [
        dg.AssetCheckResult(
            asset_key=dg.AssetKey(asset[r.check_name]),
            check_name=r.check_name,
            passed=r.passed,
            metadata=r.metadata,
            description=r.description,
            severity=dg.AssetCheckSeverity.WARN
            if r.check_name == NO_GATE.name
            else dg.AssetCheckSeverity.ERROR,
        )
        for r in [*audit_renewals(renewals.gates, renewals.validation), *listed]
    ]
    yield from recorded(home, "renewal_gates_candidate", results)
