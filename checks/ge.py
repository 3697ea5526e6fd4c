"""Great Expectations, run on polars frames, reported as Dagster asset check results.

One helper for every check: validate a frame against named groups of expectations and turn
each group into an `AssetCheckResult` carrying its failed expectations and sample failing rows.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import cache

import dagster as dg
import polars as pl

from store import quality

SAMPLE_ROWS = 5
TAG = "corners_check"
"""Meta key naming the check an expectation belongs to (GE does not keep suite order)."""


@dataclass(frozen=True)
class Expect:
    """One GE expectation, by its class name in `great_expectations.expectations` and its
    arguments: declared without importing GE (about 5 s), which loads when checks first run."""

    kind: str
    kwargs: dict

    def build(self):
        from great_expectations import expectations as gxe

        return getattr(gxe, self.kind)(**self.kwargs)

    def columns(self) -> list[str] | None:
        """The columns it reads; None for an expectation on the whole table."""
        named = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        named += self.kwargs.get("column_list", [])
        return named or None


def expect(kind: str, **kwargs) -> Expect:
    return Expect(kind, kwargs)


@dataclass(frozen=True)
class Check:
    """A named Dagster check made of GE expectations over one frame."""

    name: str
    frame: str
    expectations: tuple[Expect, ...]
    description: str


_CONTEXT_LOCK = threading.Lock()


def _context():
    """The ephemeral GE context (made once; a caller waits while another thread makes it)."""
    with _CONTEXT_LOCK:
        return _make_context()


@cache
def _make_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def warm_up() -> None:
    """Import GE and make its context in a background thread: the import takes 3–5 s of
    Python, which then overlaps the ingest's and the model's native work instead of
    delaying the first check."""
    threading.Thread(target=_context, name="great-expectations-warm-up", daemon=True).start()


class GreatExpectations(dg.ConfigurableResource):
    """Great Expectations for the checks. A run sets its resources up before its first step;
    setting this one up starts GE's import (`warm_up`), so the first check does not wait the
    whole import after the ingest."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        warm_up()


def _batch(frame: pl.DataFrame, name: str):
    context = _context()
    try:
        source = context.data_sources.get(name)
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas(name)
    asset = next(iter(source.assets), None) or source.add_dataframe_asset(name)
    definition = next(iter(asset.batch_definitions), None) or (
        asset.add_batch_definition_whole_dataframe(name)
    )
    return definition.get_batch(batch_parameters={"dataframe": frame.to_pandas()})


def run_checks(
    frames: dict[str, pl.DataFrame],
    checks: list[Check],
    key_columns: dict[str, list[str]],
    asset: str | None = None,
) -> list[dg.AssetCheckResult]:
    """Validate each frame once against every expectation of the checks that use it (the
    results name `asset` when given: a step checking several assets must)."""
    results: list[dg.AssetCheckResult] = []
    for frame_name, frame in frames.items():
        mine = [c for c in checks if c.frame == frame_name]
        if not mine:
            continue
        keys = [k for k in key_columns.get(frame_name, []) if k in frame.columns]
        frame = _project(frame, [e for c in mine for e in c.expectations], keys)
        import great_expectations as gx

        _context()
        suite = gx.ExpectationSuite(
            name=f"corners_{frame_name}",
            expectations=[
                e.build().copy(update={"meta": {TAG: c.name}}) for c in mine for e in c.expectations
            ],
        )
        outcome = _batch(frame, frame_name).validate(
            suite,
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": SAMPLE_ROWS,
                "unexpected_index_column_names": keys,
                "return_unexpected_index_query": False,
            },
        )
        for check in mine:
            group = [
                r
                for r in outcome.results
                if (r.expectation_config.meta or {}).get(TAG) == check.name
            ]
            if len(group) != len(check.expectations):
                raise RuntimeError(
                    f"{check.name}: expected {len(check.expectations)} results, got {len(group)}"
                )
            results.append(_result(check, group, frame, asset))
    return results


def _project(frame: pl.DataFrame, expectations: list[Expect], keys: list[str]) -> pl.DataFrame:
    """Only the columns the expectations and the sample rows' keys read: GE fingerprints and
    pandas converts whatever it is given."""
    wanted = [e.columns() for e in expectations]
    if any(w is None for w in wanted):
        return frame
    names = {*keys, *(c for w in wanted for c in w)}
    return frame.select([c for c in frame.columns if c in names])


def _plain(value):
    """A metadata entry's value (Dagster may have wrapped it in a MetadataValue)."""
    return getattr(value, "value", value)


def recorded(home, asset: str, results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    """Record `results` in the home's data-quality history (`store.quality`), and return
    them."""
    quality.record(
        home,
        asset,
        [
            quality.CheckOutcome(
                r.check_name,
                r.passed,
                _plain(r.metadata["rows_checked"]),
                _plain(r.metadata["failed_expectations"]),
            )
            for r in results
        ],
    )
    return results


def _describe(result) -> dict:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
    detail = result.result or {}
    return {
        "expectation": config.type,
        "kwargs": kwargs,
        "unexpected_count": detail.get("unexpected_count"),
        "sample_values": detail.get("partial_unexpected_list", [])[:SAMPLE_ROWS],
        "sample_rows": detail.get("partial_unexpected_index_list", [])[:SAMPLE_ROWS],
        "observed": detail.get("observed_value"),
    }


def _result(check: Check, group, frame: pl.DataFrame, asset: str | None) -> dg.AssetCheckResult:
    # Sample rows hold pandas timestamps and numpy values: make them plain JSON.
    failed = json.loads(json.dumps([_describe(r) for r in group if not r.success], default=str))
    metadata = {
        "rows_checked": frame.height,
        "expectations": len(group),
        "failed_expectations": dg.MetadataValue.json(failed),
    }
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(asset) if asset else None,
        check_name=check.name,
        passed=not failed,
        metadata=metadata,
        description=check.description,
    )


def failure_summary(result: dg.AssetCheckResult, blocking: bool = True) -> str:
    """A readable account of a failed check: each expectation and sample rows (a check that
    does not block warns)."""
    failed = result.metadata["failed_expectations"].value
    lines = [f"check {result.check_name} {'failed' if blocking else 'warns'}:"]
    for f in failed:
        lines.append(f"  {f['expectation']} {f['kwargs']}: {f['unexpected_count']} unexpected")
        for row in f["sample_rows"] or f["sample_values"]:
            lines.append(f"    e.g. {row}")
    return "\n".join(lines)
