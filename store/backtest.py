"""Backtest: replay the whole history under a candidate configuration, beside what is
published (SPEC §11).

`run` recomputes, from the event store alone and through the last publication's as_of,
`fit_health`, `alerts`, `renewal_gates` and `validation` under the candidate's `model`,
`alerts.rules` and `validation` settings, into `<home>/backtests/<name>/` (laid out as a
home: `published/fit_health` and so on). It publishes nothing and notifies no one.
`compare` sets the candidate beside the published tables; `report` writes the comparison as a
self-contained page. In a notebook:

    from store.backtest import run, compare
    comparison = compare(home, run(home, candidate, "heavier_survey").name)
    comparison.validation        # current and candidate per horizon, as a polars frame
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from deltalake import CommitProperties, DeltaTable

from fitmodel.columns import COMPONENTS
from fitmodel.config import CornersConfig
from fitmodel.validation import BANDS
from store import delta
from store.alerts import refresh_alerts
from store.catalog import CATALOG
from store.home import Home
from store.layout import BACKTEST_LOCK
from store.progress import Progress
from store.publish import compute_candidate, last_publication, plan_refresh, write_publication
from store.renewals import compute_from

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
REPLAYED = ("model", "alerts.rules", "validation")
"""The settings a backtest replays; a candidate differing in any other is refused."""
MANIFEST_KEY = "corners.backtest"


class BacktestError(ValueError):
    """A backtest that cannot run as asked (a candidate differing in settings it does not
    replay, a bad name, nothing published yet)."""


def _flat(data: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in REPLAYED:
            out |= _flat(value, path + ".")
        else:
            out[path] = value
    return out


def not_replayed(current: CornersConfig, candidate: CornersConfig) -> list[str]:
    """The dotted keys where the candidate differs from the configuration in force outside
    what a backtest replays."""
    now, then = _flat(current.model_dump()), _flat(candidate.model_dump())
    keys = sorted(set(now) | set(then))
    return [
        k
        for k in keys
        if not any(k == r or k.startswith(r + ".") for r in REPLAYED) and now.get(k) != then.get(k)
    ]


def backtest_home(home: Home, name: str) -> Home:
    """A backtest's tables, laid out as a home's (`published/fit_health`, ...)."""
    if not NAME.match(name):
        raise BacktestError(
            f"backtest name {name!r}: letters, digits, '_' and '-' only, at most 64 (choose one with --name)"
        )
    return Home(home.root / "backtests" / name)


@dataclass(frozen=True)
class Run:
    name: str
    home: Home
    as_of: date
    rows: int


def run(
    home: Home,
    current: CornersConfig,
    candidate: CornersConfig,
    name: str,
    source: str = "",
    progress: Progress | None = None,
    exclusion: Callable[[], AbstractContextManager] | None = None,
) -> Run:
    """Replay the history under `candidate` (see the module docstring) by the code a
    rebuild runs, into the backtest's own tables. The backtest's lock is held throughout:
    a refresh run that starts meanwhile stops before writing; `exclusion`, entered once the
    lock is held, refuses to start while a refresh is in progress (the command line passes
    Dagster's in-progress check)."""
    progress = progress or Progress("backtest", enabled=False)
    differing = not_replayed(current, candidate)
    if differing:
        raise BacktestError(
            "the candidate differs in settings a backtest does not replay (only model, "
            f"alerts.rules and validation): {', '.join(differing)}"
        )
    target = backtest_home(home, name)
    busy = BacktestError(f"another backtest is running on {home.root}; try again when it ends")
    with delta.exclusive(home.root / BACKTEST_LOCK, busy), (exclusion or nullcontext)():
        last = last_publication(home)
        if last is None:
            raise BacktestError(f"nothing published in {home.root} yet: run corners refresh first")
        as_of = last[1].as_of
        plan = plan_refresh(home, as_of, candidate, rebuild=True)
        partnerships = delta.scan_table(home, "registry").select(pl.len()).collect().item()
        done = 0

        def counted(chunk: pl.DataFrame) -> None:
            nonlocal done
            done += chunk["partnership_id"].n_unique()
            progress.update(
                f"fit model: {done:,} of {partnerships:,} partnerships through {as_of}, "
                f"{progress.elapsed():.0f} s"
            )

        progress.update(f"fit model: 0 of {partnerships:,} partnerships", force=True)
        rows = compute_candidate(home, candidate, plan, on_chunk=counted)
        height = rows.height
        write_publication(target, rows, plan.with_rows(height))
        del rows

        progress.update(
            f"alerts: {len(candidate.alerts.rules)} rules, {progress.elapsed():.0f} s", force=True
        )
        windows, shards = candidate.model.windows, candidate.scale.shards
        alerts = refresh_alerts(target, candidate.alerts, windows, shards).table

        progress.update(f"renewal gates and validation, {progress.elapsed():.0f} s", force=True)
        renewals = compute_from(
            registry=delta.scan_table(home, "registry"),
            governance=delta.scan_table(home, "governance"),
            fit_health=delta.scan_table(target, "fit_health"),
            alerts=alerts,
            as_of=as_of,
            config=candidate,
        )
        delta.replace(target.path("renewal_gates"), renewals.gates)
        manifest = {
            MANIFEST_KEY: name,
            "corners.as_of": as_of.isoformat(),
            "corners.candidate": source,
            "corners.created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        commit = CommitProperties(custom_metadata=manifest)
        delta.replace(target.path("validation"), renewals.validation, commit)
    progress.update(f"done: {height:,} partnership-days in {progress.elapsed():.0f} s", force=True)
    progress.done()
    return Run(name, target, as_of, height)


def listing(home: Home) -> pl.DataFrame:
    """Every backtest of the home: name, as_of, candidate file, when it ran."""
    rows = []
    folder = home.root / "backtests"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        table = path / "published" / "validation"
        if not delta.exists(table):
            continue
        entry = DeltaTable(str(table)).history(1)[0]
        rows.append(
            {
                "name": path.name,
                "as_of": date.fromisoformat(entry["corners.as_of"]),
                "candidate": entry.get("corners.candidate"),
                "created_at": entry.get("corners.created_at"),
                "report": str(path / "report.html"),
            }
        )
    schema = {"name": pl.String, "as_of": pl.Date, "candidate": pl.String,
              "created_at": pl.String, "report": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


@dataclass(frozen=True)
class Comparison:
    """The candidate beside what is published, as data frames."""

    name: str
    as_of: date
    validation: pl.DataFrame
    """Per horizon: each figure of the validation table, current and candidate."""
    episodes_by_rule: pl.DataFrame
    """Per rule: alert episodes current, candidate, and the difference."""
    episodes_by_month: pl.DataFrame
    """Per month episodes opened, and rule: current, candidate, difference."""
    bands: pl.DataFrame
    """Partnerships on the latest day by current band (rows) and candidate band (columns)."""
    moved: pl.DataFrame
    """The partnerships whose band differs on the latest day, with both scores and the two
    components whose weighted shares moved most."""

    @property
    def differs(self) -> bool:
        return bool(
            self.moved.height
            or self.episodes_by_rule["difference"].abs().sum()
            or not self.validation.select(
                pl.all_horizontal(
                    pl.col(f"{c}_current").eq_missing(pl.col(f"{c}_candidate"))
                    for c in ("decided_gates", "scored_gates", "failures", "auc")
                )
            )
            .to_series()
            .all()
        )


def _episodes(current: pl.DataFrame, candidate: pl.DataFrame, *keys: str) -> pl.DataFrame:
    def count(frame: pl.DataFrame, label: str) -> pl.DataFrame:
        return frame.group_by(*keys).agg(pl.len().cast(pl.Int64).alias(label))

    return (
        count(current, "current")
        .join(count(candidate, "candidate"), on=list(keys), how="full", coalesce=True)
        .with_columns(pl.col("current", "candidate").fill_null(0))
        .with_columns((pl.col("candidate") - pl.col("current")).alias("difference"))
        .sort(*keys)
    )


def _shares(config: CornersConfig) -> list[pl.Expr]:
    """Each component's weighted share of the fit score, w·c ÷ W."""
    weights = {c: getattr(config.model.components, c).weight for c in COMPONENTS}
    present = pl.sum_horizontal(
        pl.when(pl.col(f"{c}_score").is_not_null()).then(w).otherwise(0.0)
        for c, w in weights.items()
    )
    return [
        ((w * pl.col(f"{c}_score")).fill_null(0.0) / present).alias(c) for c, w in weights.items()
    ]


def compare(home: Home, name: str, current: CornersConfig, candidate: CornersConfig) -> Comparison:
    """The backtest `name` beside the published tables."""
    target = backtest_home(home, name)
    if not delta.exists(target.path("validation")):
        raise BacktestError(f"no backtest {name!r} in {home.root} (corners backtest --list)")
    as_of = date.fromisoformat(
        DeltaTable(str(target.path("validation"))).history(1)[0]["corners.as_of"]
    )
    measures = [c for c in delta.scan_table(home, "validation").collect_schema() if c != "as_of"]
    now = delta.scan_table(home, "validation").collect().select(measures)
    then = pl.read_delta(str(target.path("validation"))).select(measures)
    validation = now.join(then, on="horizon_days", how="full", coalesce=True, suffix="_candidate")
    validation = validation.rename(
        {c: f"{c}_current" for c in measures if c != "horizon_days"}
    ).select(
        "horizon_days",
        *[f"{c}_{w}" for c in measures if c != "horizon_days" for w in ("current", "candidate")],
    )

    alerts_now = delta.scan_table(home, "alerts").collect()
    alerts_then = pl.read_delta(str(target.path("alerts")))
    by_month = [pl.col("opened_on").dt.truncate("1mo").alias("month"), "rule"]
    episodes_by_month = _episodes(
        alerts_now.select(by_month), alerts_then.select(by_month), "month", "rule"
    )

    columns = ["partnership_id", "name", "fit_score", "band", *[f"{c}_score" for c in COMPONENTS]]

    def latest(path: Path, config: CornersConfig, label: str) -> pl.DataFrame:
        return (
            delta.scan(path, CATALOG["fit_health"].schema)
            .filter(pl.col("as_of") == as_of)
            .select(*columns)
            .with_columns(_shares(config))
            .collect()
            .rename({c: f"{c}_{label}" for c in ["fit_score", "band", *COMPONENTS]})
            .drop(f"{c}_score" for c in COMPONENTS)
        )

    day = latest(home.path("fit_health"), current, "current").join(
        latest(target.path("fit_health"), candidate, "candidate").drop("name"),
        on="partnership_id",
        how="full",
        coalesce=True,
    )
    order = [*BANDS, "insufficient_data"]
    bands = (
        day.group_by("band_current", "band_candidate")
        .len()
        .pivot(on="band_candidate", index="band_current", values="len")
        .fill_null(0)
    )
    bands = bands.select("band_current", *[b for b in order if b in bands.columns]).sort(
        pl.col("band_current").replace_strict(order, list(range(len(order))), default=9)
    )
    moves = [(pl.col(f"{c}_candidate") - pl.col(f"{c}_current")).alias(c) for c in COMPONENTS]
    moved = (
        day.filter(pl.col("band_current").ne_missing(pl.col("band_candidate")))
        .with_columns(pl.struct(moves).alias("_moves"))
        .with_columns(
            pl.concat_list(
                pl.struct(component=pl.lit(c), change=pl.col("_moves").struct.field(c))
                for c in COMPONENTS
            )
            .list.eval(
                pl.element().sort_by(pl.element().struct.field("change").abs(), descending=True)
            )
            .list.head(2)
            .list.eval(
                pl.format(
                    "{} {}",
                    pl.element().struct.field("component"),
                    (pl.element().struct.field("change")).round(1),
                )
            )
            .list.join(", ")
            .alias("moved_by")
        )
        .select(
            "partnership_id",
            "name",
            pl.col("fit_score_current").round(1),
            "band_current",
            pl.col("fit_score_candidate").round(1),
            "band_candidate",
            "moved_by",
        )
        .sort("partnership_id")
    )
    return Comparison(
        name,
        as_of,
        validation,
        _episodes(alerts_now, alerts_then, "rule"),
        episodes_by_month,
        bands,
        moved,
    )


COMPARISON = ("validation", "episodes_by_rule", "episodes_by_month", "bands", "moved")
"""The comparison's frames, kept as `<backtest>/comparison/<frame>.parquet`."""
TABLES = ("fit_health", "alerts", "renewal_gates", "validation")
"""The tables a backtest recomputes (Delta, laid out as a home's)."""


def save(home: Home, comparison: Comparison) -> Path:
    """Keep the comparison beside the backtest's tables (what `corners query` reads as
    `backtests.<name>.compare_<frame>`)."""
    folder = backtest_home(home, comparison.name).root / "comparison"
    folder.mkdir(parents=True, exist_ok=True)
    for frame in COMPARISON:
        getattr(comparison, frame).write_parquet(folder / f"{frame}.parquet")
    return folder


def load(home: Home, name: str) -> Comparison:
    """The comparison a backtest kept (as it stood when the backtest ran)."""
    target = backtest_home(home, name)
    folder = target.root / "comparison"
    if not all((folder / f"{f}.parquet").is_file() for f in COMPARISON):
        raise BacktestError(f"no backtest {name!r} in {home.root} (corners backtest --list)")
    as_of = date.fromisoformat(
        DeltaTable(str(target.path("validation"))).history(1)[0]["corners.as_of"]
    )
    frames = {f: pl.read_parquet(folder / f"{f}.parquet") for f in COMPARISON}
    return Comparison(name, as_of, **frames)


def sources(home: Home) -> dict[str, dict[str, Path]]:
    """Per backtest, what `corners query` can read: each recomputed table (a Delta folder)
    and `compare_<frame>` (a Parquet file)."""
    out = {}
    folder = home.root / "backtests"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not NAME.match(path.name):
            continue
        target = Home(path)
        places = {t: target.path(t) for t in TABLES if delta.exists(target.path(t))}
        places |= {
            f"compare_{f}": path / "comparison" / f"{f}.parquet"
            for f in COMPARISON
            if (path / "comparison" / f"{f}.parquet").is_file()
        }
        if places:
            out[path.name] = places
    return out
