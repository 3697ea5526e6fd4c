"""`corners explain`: why a partnership's fit score moved, down to the events."""

from __future__ import annotations

from datetime import date

import click
import polars as pl

from fitmodel.events import DIMENSIONS
from fitmodel.explain import Explanation
from fitmodel.explain import explain as explain_rows
from pipelines.cli.options import App, as_of_option, command_options, count_option, examples
from store import delta
from store.publish import events_of, latest_day


def _num(value, fmt: str = ".1f") -> str:
    return "null" if value is None else format(value, fmt)


def _governance(s: dict) -> str:
    """The last renewal gate's outcome and the diagnostic, in one line."""
    gate = (
        f"last renewal gate {s['last_gate_on']}: {s['last_gate_outcome']} "
        f"({s['days_since_last_gate']} days ago)"
        if s.get("last_gate_on")
        else "no renewal gate yet"
    )
    scores = [f"{d.replace('_', ' ')} {_num(s.get(d))}" for d in DIMENSIONS]
    low = ", below 7" if s.get("diagnostic_below_7") else ""
    if all(s.get(d) is None for d in DIMENSIONS):
        return f"{gate}; no diagnostic yet"
    return f"{gate}; diagnostic: {', '.join(scores)}{low}"


def render(result: Explanation) -> str:
    s = result.summary.row(0, named=True)
    lines = [
        f"{s['partnership_id']} {s['name']} (owner {s['owner']}), {s['since']} → {s['as_of']}",
        f"fit score {_num(s['fit_score_then'])} → {_num(s['fit_score'])} "
        f"(change {_num(s['change'], '+.1f')}), band {s['band_then']} → {s['band']}, "
        f"data confidence {s['data_confidence']}",
        _governance(s),
        "",
        "change by component (its weighted share of the score; they add up to the change):",
    ]
    for r in result.components.iter_rows(named=True):
        lines.append(
            f"  {r['component']:<15} {_num(r['change'], '+6.1f'):>6}   "
            f"score {_num(r['score_then'])} → {_num(r['score_now'])}, weight {r['weight']:g}"
        )
    if not result.evidence:
        lines += ["", "no component pulled the score down over the period"]
    for name, frame in result.evidence.items():
        lines += ["", f"{name}: {result.notes[name]}"]
        with pl.Config(
            tbl_rows=40, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=200
        ):
            lines.append(str(frame) if frame.height else "  (no events)")
    return "\n".join(lines)


@click.command(
    epilog=examples(
        "corners explain P00015", "corners explain P00015 --as-of 2026-10-01 --days 90"
    ),
)
@click.argument("partnership_id")
@as_of_option("the day to explain (default: its latest row)")
@count_option("--days", 1, 3650, 30, "compare with days earlier")
@count_option(
    "--drivers", 1, 6, 3, "show the events behind this many negative components (6 = all)"
)
@command_options
def explain(app: App, partnership_id: str, as_of: date | None, days: int, drivers: int):
    """Compare a partnership's fit-health row on --as-of (default: its latest) with the row
    --days earlier: score, band and data confidence, the change by component (SPEC
    score_change_by_component over the period), and for the components that pulled the score down
    most, the events behind them with date and event id. In Python: fitmodel.explain.explain(...)
    returns the same as data frames."""
    app.fit_health()
    fit_health = delta.scan_table(app.home, "fit_health")
    result = explain_rows(
        fit_health,
        events_of(app.home),
        partnership_id,
        as_of or latest_day(app.home, partnership_id, fit_health),
        days,
        app.config.model,
        drivers=drivers,
    )
    click.echo(render(result))
