"""Blocking checks on the fit-health candidate: write–audit–publish's audit."""

import dagster as dg
import polars as pl

from assets.fit import fit_health_candidate
from assets.resources import CornersResource
from checks.ge import Check, GreatExpectations, expect, recorded, run_checks
from fitmodel.config import ModelConfig
from fitmodel.planning import Plan
from fitmodel.score import COMPONENTS, TIE
from store import delta
from store import publish as rf
from store.shards import members

SCORES = [*(f"{c}_score" for c in COMPONENTS), "fit_score"]
READ = ["partnership_id", "as_of", "band", *SCORES]
"""The candidate's columns the checks read: reading no more cut the checks of one of four
shards at 10,000 partnerships from 3.1 GB to 1.9 GB."""
KEYS = {
    "rows": ["partnership_id", "as_of"],
    "coverage": ["partnership_id"],
    "removed": ["partnership_id"],
}


def derived(rows: pl.DataFrame, model: ModelConfig) -> pl.DataFrame:
    """The columns the checks read, plus independent recomputations they compare against:
    the band implied by fit_score, and the gap between fit_score and its components."""
    weights = {c: getattr(model.components, c).weight for c in COMPONENTS}
    present = [
        pl.when(pl.col(f"{c}_score").is_not_null()).then(w).otherwise(0.0)
        for c, w in weights.items()
    ]
    total = pl.sum_horizontal(present)
    weighted = pl.sum_horizontal(
        [(w * pl.col(f"{c}_score")).fill_null(0.0) for c, w in weights.items()]
    )
    expected = pl.when(total >= model.min_weight).then(weighted / total)
    band = (
        pl.when(pl.col("fit_score").is_null())
        .then(pl.lit("insufficient_data"))
        .when(pl.col("fit_score") >= model.bands.healthy - TIE)
        .then(pl.lit("healthy"))
        .when(pl.col("fit_score") >= model.bands.watch - TIE)
        .then(pl.lit("watch"))
        .otherwise(pl.lit("at_risk"))
    )
    gap = (
        pl.when(pl.col("fit_score").is_null() & expected.is_null())
        .then(0.0)
        .when(pl.col("fit_score").is_null() | expected.is_null())
        .then(float("inf"))
        .otherwise((pl.col("fit_score") - expected).abs())
    )
    # NaN is not null, but pandas reads both as NaN, which GE's range checks skip: count it.
    nan = pl.sum_horizontal([pl.col(c).is_nan().fill_null(False) for c in SCORES])
    # Only what the expectations read goes to pandas.
    return rows.select(
        "partnership_id",
        "as_of",
        "band",
        *SCORES,
        band.alias("expected_band"),
        gap.alias("fit_score_gap"),
        nan.alias("nan_scores"),
    )


def removed(rows: pl.DataFrame, published: pl.LazyFrame, plan: Plan) -> pl.DataFrame:
    """Partnerships the published table has that publishing `rows` would remove: those whose
    published rows all lie in the replaced days and that have no candidate row."""
    replaced = published.group_by("partnership_id").agg(pl.col("as_of").min().alias("first"))
    if plan.start is not None:
        replaced = replaced.filter(pl.col("first") >= plan.start)
    return (
        replaced.select("partnership_id")
        .collect()
        .join(rows.select("partnership_id").unique(), on="partnership_id", how="anti")
        .sort("partnership_id")
    )


def coverage(rows: pl.DataFrame, registry: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Per active partnership: days present against days expected in the candidate's range."""
    first = pl.col("started_on")
    if plan.start is not None:
        first = pl.max_horizontal(first, pl.lit(plan.start))
    last = pl.min_horizontal(pl.col("ended_on").fill_null(plan.as_of), pl.lit(plan.as_of))
    expected = (
        registry.select("partnership_id", first.alias("first"), last.alias("expected_last"))
        .filter(pl.col("first") <= pl.col("expected_last"))
        .with_columns(
            ((pl.col("expected_last") - pl.col("first")).dt.total_days() + 1).alias("expected_days")
        )
    )
    present = rows.group_by("partnership_id").agg(
        pl.col("as_of").n_unique().alias("days"), pl.col("as_of").max().alias("last_day")
    )
    return expected.join(present, on="partnership_id", how="left").with_columns(
        pl.col("days").fill_null(0).cast(pl.Int64), pl.col("expected_days").cast(pl.Int64)
    )


CHECKS = [
    Check(
        "fit_health_one_row_per_partnership_day",
        "rows",
        (
            expect("ExpectCompoundColumnsToBeUnique", column_list=["partnership_id", "as_of"]),
            expect("ExpectColumnValuesToNotBeNull", column="partnership_id"),
            expect("ExpectColumnValuesToNotBeNull", column="as_of"),
        ),
        "At most one row per partnership and day.",
    ),
    Check(
        "fit_health_scores_between_0_and_100",
        "rows",
        tuple(
            expect("ExpectColumnValuesToBeBetween", column=c, min_value=0, max_value=100)
            for c in SCORES
        ),
        "Every component score and fit_score is within [0, 100].",
    ),
    Check(
        "fit_health_scores_are_numbers",
        "rows",
        (expect("ExpectColumnValuesToBeBetween", column="nan_scores", min_value=0, max_value=0),),
        "No component score or fit_score is NaN (null is allowed, NaN is not a score).",
    ),
    Check(
        "fit_health_keeps_published_partnerships",
        "removed",
        (expect("ExpectColumnValuesToBeNull", column="partnership_id"),),
        "Publishing removes no partnership that is published (a registry that drops one, or "
        "an empty candidate, is refused; a partnership ends by its ended_on).",
    ),
    Check(
        "fit_health_band_matches_fit_score",
        "rows",
        (expect("ExpectColumnPairValuesToBeEqual", column_A="band", column_B="expected_band"),),
        "band is the band of fit_score under the configured thresholds.",
    ),
    Check(
        "fit_health_fit_score_matches_components",
        "rows",
        (
            expect(
                "ExpectColumnValuesToBeBetween", column="fit_score_gap", min_value=0, max_value=1e-6
            ),
        ),
        "fit_score is the weighted mean of its non-null components (null below min_weight).",
    ),
    Check(
        "fit_health_no_missing_days",
        "coverage",
        (expect("ExpectColumnPairValuesToBeEqual", column_A="days", column_B="expected_days"),),
        "Every active partnership has a row for every day of the candidate's range.",
    ),
    Check(
        "fit_health_covers_as_of",
        "coverage",
        (expect("ExpectColumnPairValuesToBeEqual", column_A="last_day", column_B="expected_last"),),
        "Every active partnership's rows reach min(ended_on, as_of).",
    ),
]


def audit_candidate(
    rows: pl.DataFrame,
    plan: Plan,
    registry: pl.DataFrame,
    published: pl.LazyFrame,
    model: ModelConfig,
) -> list[dg.AssetCheckResult]:
    """Every blocking check of a candidate, on frames (no refresh or Dagster run needed):
    `published` holds at least `partnership_id` and `as_of` of the published rows."""
    frames = {
        "rows": derived(rows, model),
        "coverage": coverage(rows, registry, plan),
        "removed": removed(rows, published, plan),
    }
    return run_checks(frames, CHECKS, KEYS)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            c.name, asset=fit_health_candidate, blocking=True, description=c.description
        )
        for c in CHECKS
    ],
)
def fit_health_candidate_checks(corners: CornersResource, great_expectations: GreatExpectations):
    """Audit the candidate before it may be published (blocking)."""
    home = corners.layout
    rows, plan = rf.read_candidate(home, columns=READ)
    results = audit_candidate(
        rows,
        plan,
        delta.scan_table(home, "registry").collect(),
        delta.scan_table(home, "fit_health").select("partnership_id", "as_of"),
        corners.settings.model,
    )
    yield from recorded(home, "fit_health_candidate", results)


def shard_checks(shard_asset: dg.AssetsDefinition, shard: int, count: int):
    """The same blocking checks on one shard's candidate, against that shard's registry
    and published rows."""

    @dg.multi_asset_check(
        name=f"{shard_asset.key.path[-1]}_checks",
        specs=[
            dg.AssetCheckSpec(c.name, asset=shard_asset, blocking=True, description=c.description)
            for c in CHECKS
        ],
    )
    def checks(corners: CornersResource, great_expectations: GreatExpectations):
        home = corners.layout
        rows, plan = rf.read_candidate(home, shard=shard, columns=READ)
        registry = members(delta.scan_table(home, "registry"), shard, count).collect()
        published = delta.scan_table(home, "fit_health").select("partnership_id", "as_of")
        ids = registry["partnership_id"].implode()
        results = audit_candidate(
            rows,
            plan,
            registry,
            published.filter(pl.col("partnership_id").is_in(ids)),
            corners.settings.model,
        )
        yield from recorded(home, shard_asset.key.path[-1], results)

    return checks
