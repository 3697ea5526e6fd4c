"""A backtest's comparison as one self-contained page: `<home>/backtests/<name>/report.html`
(plotly.js inlined, like the fit-health report)."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs

from store.backtest import Comparison, backtest_home
from store.home import Home
from store.report import STYLE, _figure, _table, level_lines

CHARTS = ["validation-auc", "episodes-by-rule", "episodes-by-month", "band-crosstab"]
"""The id of every chart's element, in page order (the browser test looks for each)."""

COLOURS = {"current": "#607d8b", "candidate": "#1565c0"}


def _auc(c: Comparison) -> str:
    fig = go.Figure()
    for who in ("current", "candidate"):
        fig.add_trace(
            go.Bar(
                x=[f"{h} days before" for h in c.validation["horizon_days"]],
                y=[a if a is not None else 0 for a in c.validation[f"auc_{who}"]],
                name=who,
                marker_color=COLOURS[who],
            )
        )
    level_lines(fig, [(0.5, "#777", "chance")])
    fig.update_yaxes(title="AUC of the fit score against the gates' outcomes", range=[0, 1.05])
    return _figure(fig, "validation-auc", 320)


def _by_rule(c: Comparison) -> str:
    fig = go.Figure()
    for who in ("current", "candidate"):
        fig.add_trace(
            go.Bar(
                x=c.episodes_by_rule["rule"].to_list(),
                y=c.episodes_by_rule[who].to_list(),
                name=who,
                marker_color=COLOURS[who],
            )
        )
    fig.update_yaxes(title="alert episodes")
    return _figure(fig, "episodes-by-rule", 340)


def _by_month(c: Comparison) -> str:
    monthly = c.episodes_by_month.group_by("month").agg(pl.col("current", "candidate").sum())
    monthly = monthly.sort("month")
    fig = go.Figure()
    for who in ("current", "candidate"):
        fig.add_trace(
            go.Scatter(
                x=monthly["month"].to_list(),
                y=monthly[who].to_list(),
                name=who,
                mode="lines+markers",
                line={"color": COLOURS[who]},
            )
        )
    fig.update_yaxes(title="episodes opened per month")
    return _figure(fig, "episodes-by-month", 320)


def _crosstab(c: Comparison) -> str:
    columns = [col for col in c.bands.columns if col != "band_current"]
    fig = go.Figure(
        go.Heatmap(
            z=c.bands.select(columns).rows(),
            x=[f"candidate: {b}" for b in columns],
            y=[f"current: {b}" for b in c.bands["band_current"]],
            colorscale="Blues",
            text=c.bands.select(columns).rows(),
            texttemplate="%{text}",
        )
    )
    return _figure(fig, "band-crosstab", 340)


def write_report(home: Home, c: Comparison) -> Path:
    body = f"""
<h1>corners backtest: {html.escape(c.name)}</h1>
<p class="note">The whole history replayed through {c.as_of} under the candidate's model,
alert rules and validation settings, beside what is published. Nothing was published and no
one was notified.</p>
<h2>Does the fit score predict renewals?</h2>
{_auc(c)}
{_table(c.validation, "no validation rows")}
<h2>Alert episodes per rule</h2>
{_by_rule(c)}
{_table(c.episodes_by_rule, "no alert episode either way")}
<h2>Alert episodes per month</h2>
{_by_month(c)}
<h2>Bands on {c.as_of}</h2>
{_crosstab(c)}
<h3>Partnerships in another band</h3>
{_table(c.moved, "every partnership keeps its band")}
"""
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>corners backtest {html.escape(c.name)}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{body}</body></html>"
    )
    path = backtest_home(home, c.name).root / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
