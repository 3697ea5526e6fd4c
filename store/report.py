"""The fit-health report: one static, self-contained HTML page per refresh.

`<home>/reports/<as_of>.html` shows partnerships per band over time, the biggest movers of the
last 30 days with their drivers, fit-score trends of the partnerships at risk or degrading,
each corner's distribution, data confidence, open alerts, notable restatements and the
data-quality summary (checks and quarantined lines). Charts are Plotly figures; plotly.js is
embedded once in the page, so it opens without a network.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from fitmodel.config import CornersConfig
from fitmodel.events import CORNERS, DIMENSIONS
from fitmodel.score import COMPONENTS
from store import delta
from store.home import Home

BAND_COLOURS = {
    "healthy": "#2e7d32",
    "watch": "#f9a825",
    "at_risk": "#c62828",
    "insufficient_data": "#9e9e9e",
}
CHARTS = [
    "bands-over-time",
    "movers",
    "trends",
    "corners",
    "confidence",
    "validation",
    "diagnostic",
    "quarantine",
]
"""The id of every chart's element, in page order (the browser test looks for each)."""

MOVERS, TRENDS, TREND_DAYS, ALERTS_SHOWN = 12, 12, 90, 50


def report_path(home: Home, as_of: date) -> Path:
    return home.reports / f"{as_of.isoformat()}.html"


def prune_reports(folder: Path, keep: int, written: Path) -> None:
    """Remove all but the reports of the latest `keep` days (0: keep all), never `written`;
    only files named as reports (`YYYY-MM-DD.html`) are touched."""
    if keep == 0:
        return
    reports = sorted(
        (p for p in folder.glob("*.html") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.stem)),
        reverse=True,  # ISO days sort as dates
    )
    for path in reports[keep:]:
        if path != written:
            path.unlink(missing_ok=True)


def _table(frame: pl.DataFrame, empty: str) -> str:
    if frame.is_empty():
        return f'<p class="empty">{html.escape(empty)}</p>'

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.1f}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(fig: go.Figure, div_id: str, height: int) -> str:
    fig.update_layout(
        height=height,
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def level_lines(fig: go.Figure, lines: list[tuple[float, str, str | None]], plots: int = 1):
    """Dotted horizontal lines (value, colour, label) across each of `plots` subplots, set as
    layout shapes at once: plotly's `add_hline` copies the figure for each line and subplot
    (over a second for the trends' twelve)."""
    shapes, labels = [], []
    for i in range(1, plots + 1):
        axis = "" if i == 1 else str(i)
        for value, colour, label in lines:
            shapes.append(
                {
                    "type": "line",
                    "xref": f"x{axis} domain",
                    "x0": 0,
                    "x1": 1,
                    "yref": f"y{axis}",
                    "y0": value,
                    "y1": value,
                    "line": {"dash": "dot", "color": colour, "width": 1},
                }
            )
            if label:
                labels.append(
                    {
                        "xref": f"x{axis} domain",
                        "x": 1,
                        "xanchor": "right",
                        "yref": f"y{axis}",
                        "y": value,
                        "yanchor": "bottom",
                        "text": label,
                        "showarrow": False,
                    }
                )
    fig.update_layout(
        shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *labels]
    )


def _bands_over_time(history: pl.LazyFrame) -> str:
    counts = history.group_by("as_of", "band").len().sort("as_of").collect()
    fig = go.Figure()
    for band, colour in BAND_COLOURS.items():
        mine = counts.filter(pl.col("band") == band)
        fig.add_trace(
            go.Scatter(
                x=mine["as_of"].to_numpy(),
                y=mine["len"].to_numpy(),
                name=band,
                stackgroup="bands",
                line={"color": colour, "width": 0.5},
            )
        )
    fig.update_yaxes(title="partnerships")
    return _figure(fig, "bands-over-time", 380)


def _driver_change() -> pl.Expr:
    fields = [
        pl.when(pl.col("top_negative_driver") == c).then(
            pl.col("score_change_by_component").struct.field(c)
        )
        for c in COMPONENTS
    ]
    return pl.coalesce(fields)


def _movers(latest: pl.DataFrame, days: int) -> tuple[str, str]:
    """The biggest moves of `score_change_30d`, the change over the trend window (`days`)."""
    moved = latest.filter(pl.col("score_change_30d").is_not_null()).with_columns(
        _driver_change().alias("driver_change")
    )
    falls = moved.filter(pl.col("score_change_30d") < 0).sort("score_change_30d").head(MOVERS)
    rises = (
        moved.filter(pl.col("score_change_30d") > 0)
        .sort("score_change_30d", descending=True)
        .head(MOVERS // 2)
    )
    both = pl.concat([falls, rises]).unique("partnership_id").sort("score_change_30d")
    fig = go.Figure(
        go.Bar(
            x=both["score_change_30d"].to_list(),
            y=[f"{p} {n}" for p, n in zip(both["partnership_id"], both["name"], strict=True)],
            orientation="h",
            marker_color=[BAND_COLOURS[b] for b in both["band"]],
            text=[d or "" for d in both["top_negative_driver"]],
            textposition="outside",
        )
    )
    fig.update_xaxes(title=f"fit score change over {days} days (bar colour: band now)")
    table = falls.select(
        "partnership_id",
        "name",
        "owner",
        pl.col("fit_score").round(1),
        pl.col("score_change_30d").round(1).alias("change_30d"),
        "band",
        pl.col("top_negative_driver").alias("driver"),
        pl.col("driver_change").round(1),
        "data_confidence",
    )
    return _figure(fig, "movers", 60 + 28 * max(both.height, 4)), _table(
        table, f"no partnership has a {days}-day change yet"
    )


def _trends(history: pl.LazyFrame, latest: pl.DataFrame, as_of: date, bands) -> str:
    troubled = (
        latest.filter((pl.col("band") == "at_risk") | (pl.col("score_change_30d") <= -5))
        .sort(pl.col("score_change_30d").fill_null(0), "fit_score")
        .head(TRENDS)
    )
    if troubled.is_empty():
        return '<p class="empty">no partnership is at risk or degrading</p>'
    ids = troubled["partnership_id"].to_list()
    series = (
        history.filter(
            pl.col("partnership_id").is_in(ids)
            & (pl.col("as_of") > as_of - timedelta(days=TREND_DAYS))
        )
        .select("partnership_id", "as_of", "fit_score")
        .sort("as_of")
        .collect()
    )
    cols = 4
    rows = (len(ids) + cols - 1) // cols
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[
            f"{p} ({b}, {c:+.1f})" if c is not None else f"{p} ({b})"
            for p, b, c in troubled.select("partnership_id", "band", "score_change_30d").rows()
        ],
        shared_yaxes=True,
        vertical_spacing=0.12,
    )
    for i, pid in enumerate(ids):
        mine = series.filter(pl.col("partnership_id") == pid)
        fig.add_trace(
            go.Scatter(
                x=mine["as_of"].to_numpy(),
                y=mine["fit_score"].to_numpy(),
                mode="lines",
                line={"color": "#1565c0"},
                showlegend=False,
                name=pid,
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    levels = [(bands.healthy, BAND_COLOURS["healthy"], None), (bands.watch, "#c62828", None)]
    level_lines(fig, levels, plots=len(ids))
    fig.update_yaxes(range=[0, 100])
    fig.update_annotations(font_size=11)
    return _figure(fig, "trends", 200 * rows + 40)


def _scores_1_to_10(
    latest: pl.DataFrame, columns, threshold: float, title: str, div_id: str, height: int
) -> str:
    """The distribution of 1–10 means on the latest day, against the structural-fix line."""
    fig = go.Figure()
    for column in columns:
        values = latest[column].drop_nulls().to_numpy()
        fig.add_trace(go.Box(y=values, name=column, boxpoints="outliers"))
    level_lines(fig, [(threshold, "#c62828", f"structural fix below {threshold:g}")])
    fig.update_yaxes(title=title, range=[0, 10.5])
    return _figure(fig, div_id, height)


def _corners(latest: pl.DataFrame, threshold: float, days: int) -> str:
    title = f"corner mean ({days} days)"
    return _scores_1_to_10(latest, CORNERS, threshold, title, "corners", 360)


def _confidence(latest: pl.DataFrame) -> str:
    counts = latest.group_by("data_confidence").len()
    order = ["high", "medium", "low"]
    values = dict(counts.iter_rows())
    fig = go.Figure(
        go.Bar(
            x=order,
            y=[values.get(o, 0) for o in order],
            marker_color=["#2e7d32", "#f9a825", "#9e9e9e"],
        )
    )
    fig.update_yaxes(title="partnerships (latest day)")
    return _figure(fig, "confidence", 280)


def _quality(home: Home) -> tuple[str, str, str]:
    results = delta.scan_table(home, "check_results").collect()
    latest = (
        results.sort("checked_at").group_by("check_name").last().sort("asset", "check_name")
        if results.height
        else results
    )
    passed = int(latest["passed"].sum()) if latest.height else 0
    summary = (
        f"{passed} of {latest.height} data-quality checks passed on their latest run"
        if latest.height
        else "no data-quality checks have run yet"
    )
    failed = latest.filter(~pl.col("passed")).select(
        "asset", "check_name", "rows_checked", "checked_at"
    )
    quarantine = (
        delta.scan_table(home, "quarantine")
        .select(pl.col("reasons").explode().alias("reason"))
        .group_by("reason")
        .len()
        .sort("len", descending=True)
        .collect()
    )
    if quarantine.is_empty():
        chart = '<p class="empty">nothing was quarantined</p>'
    else:
        fig = go.Figure(
            go.Bar(x=quarantine["len"].to_list(), y=quarantine["reason"].to_list(), orientation="h")
        )
        fig.update_xaxes(title="quarantined lines")
        fig.update_yaxes(autorange="reversed")
        chart = _figure(fig, "quarantine", 80 + 26 * max(quarantine.height, 3))
    return summary, _table(failed, "every check passed"), chart


def _validation(home: Home, as_of: date) -> str:
    """AUC per horizon with its gates, failure rate per band, and the gates of the last six
    months with their outcomes."""
    table = delta.scan_table(home, "validation").collect()
    if table.is_empty():
        return '<p class="empty">no validation yet: it comes with the first publication</p>'
    fig = go.Figure(
        go.Bar(
            x=[f"{h} days before" for h in table["horizon_days"]],
            y=[a if a is not None else 0 for a in table["auc"]],
            text=[
                f"AUC {a:.2f} · {n} gates" if a is not None else f"no AUC · {n} gates"
                for a, n in zip(table["auc"], table["scored_gates"], strict=True)
            ],
            textposition="outside",
            marker_color="#1565c0",
        )
    )
    level_lines(fig, [(0.5, "#777", "chance")])
    fig.update_yaxes(title="AUC of the fit score", range=[0, 1.1])
    rates = table.select(
        pl.col("horizon_days").alias("horizon"),
        "scored_gates",
        "failures",
        *[
            pl.when(pl.col(f"{b}_gates") > 0)
            .then(pl.format("{} of {}", pl.col(f"{b}_failures"), pl.col(f"{b}_gates")))
            .otherwise(pl.lit("-"))
            .alias(f"{b} failed")
            for b in ("healthy", "watch", "at_risk")
        ],
        pl.col("alert_recall").round(2),
        pl.col("alert_precision").round(2),
    )
    recent = (
        delta.scan_table(home, "renewal_gates")
        .filter(pl.col("gate_on") > as_of - timedelta(days=183))
        .select(
            "partnership_id",
            "gate_on",
            "decision_a",
            "decision_b",
            "outcome",
            pl.col("fit_score_at_gate").round(1),
            "band_at_gate",
        )
        .sort("gate_on", descending=True)
        .collect()
    )
    return (
        _figure(fig, "validation", 320)
        + '<p class="note">Failure rate per band (the band the horizon\'s days before the '
        "gate; a failure is a restructure or an exit):</p>"
        + _table(rates, "no gates yet")
        + "<h3>Gates of the last six months</h3>"
        + _table(recent, "no gate in the last six months")
    )


def _diagnostic(latest: pl.DataFrame, threshold: float) -> str:
    title = "diagnostic mean (latest responses)"
    return _scores_1_to_10(latest, DIMENSIONS, threshold, title, "diagnostic", 340)


def _alerts(home: Home) -> tuple[int, str]:
    table = delta.scan_table(home, "alerts").collect()
    open_now = table.filter(pl.col("status") == "open").sort(
        pl.col("severity") == "critical", "opened_on", descending=[True, True]
    )
    shown = open_now.head(ALERTS_SHOWN).select(
        "alert_id", "severity", "opened_on", "owner", "explanation"
    )
    return open_now.height, _table(shown, "no open alerts")


def _restatements(home: Home, as_of: date) -> str:
    recent = (
        delta.scan_table(home, "restatements")
        .filter(pl.col("refresh_as_of") > as_of - timedelta(days=30))
        .filter(
            (pl.col("fit_score_change").abs() >= 1)
            | (pl.col("band_before") != pl.col("band_after"))
        )
        .sort(pl.col("fit_score_change").abs(), descending=True, nulls_last=True)
        .head(30)
        .select(
            "refresh_as_of",
            "partnership_id",
            "as_of",
            pl.col("fit_score_before").round(1),
            pl.col("fit_score_after").round(1),
            pl.col("fit_score_change").round(1),
            "band_before",
            "band_after",
        )
        .collect()
    )
    return _table(
        recent,
        "no published day changed by a point or more (or changed band) in the last 30 days",
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1280px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; }
.tile { padding: 10px 16px; border-radius: 6px; color: white; min-width: 120px; }
.tile b { font-size: 24px; display: block; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; }
th { background: #fafafa; } .empty { color: #777; font-style: italic; }
.note { color: #555; font-size: 13px; }
"""


def build_report(home: Home, config: CornersConfig, as_of: date | None = None) -> Path:
    """Write the report for `as_of` (default: the latest published day) and return its path."""
    history = delta.scan_table(home, "fit_health")
    if as_of is None:
        as_of = history.select(pl.col("as_of").max()).collect().item()
    history = history.filter(pl.col("as_of") <= as_of)
    latest = history.filter(pl.col("as_of") == as_of).collect()  # partnerships running then
    bands = dict(latest.group_by("band").len().iter_rows())
    tiles = "".join(
        f'<div class="tile" style="background:{colour}"><b>{bands.get(band, 0)}</b>{band}</div>'
        for band, colour in BAND_COLOURS.items()
    )
    movers_chart, movers_table = _movers(latest, config.model.windows.trend_days)
    open_count, alerts_table = _alerts(home)
    quality_summary, failed_checks, quarantine_chart = _quality(home)
    model = config.model
    body = f"""
<h1>corners fit-health report</h1>
<p class="note">as of {as_of} · {latest.height} partnerships running · generated from
{html.escape(str(home.path("fit_health")))}</p>
<div class="tiles">{tiles}</div>

<h2>Partnerships per band over time</h2>
{_bands_over_time(history)}

<h2>Biggest movers of the last {model.windows.trend_days} days</h2>
{movers_chart}
<p class="note">Falls, most negative first, with the component that pulled the score down
most (its share of the change). <code>corners explain PARTNERSHIP_ID</code> traces it to
events.</p>
{movers_table}

<h2>At risk or degrading: fit score over the last {TREND_DAYS} days</h2>
{_trends(history, latest, as_of, model.bands)}

<h2>Each corner's distribution (latest day)</h2>
{_corners(latest, model.corner_threshold, model.windows.survey_days)}

<h2>Does the fit score predict renewals?</h2>
<p class="note">At each renewal gate both sides reaffirm, restructure or exit. The AUC is the
share of (failed, reaffirmed) pairs of gates in which the failed one scored lower h days
before; 0.5 is chance.</p>
{_validation(home, as_of)}

<h2>The diagnostic (latest day)</h2>
{_diagnostic(latest, model.corner_threshold)}

<h2>Data confidence (latest day)</h2>
{_confidence(latest)}

<h2>Open alerts ({open_count})</h2>
{alerts_table}

<h2>Notable restatements (last 30 days)</h2>
<p class="note">Published days that late events changed by at least one point or moved to
another band.</p>
{_restatements(home, as_of)}

<h2>Data quality</h2>
<p>{html.escape(quality_summary)}</p>
{failed_checks}
<h3>Quarantined lines by reason</h3>
{quarantine_chart}
"""
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>corners report {as_of}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{body}</body></html>"
    )
    path = report_path(home, as_of)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    prune_reports(path.parent, config.report.keep, path)
    return path
