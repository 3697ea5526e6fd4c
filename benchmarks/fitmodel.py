"""Fit-model benchmark: polars full rebuild and one-day incremental against DuckDB SQL.

    python benchmarks/fitmodel.py --partnerships 10000 --days 1095      # the issue's size
    python benchmarks/fitmodel.py --check --partnerships 60 --days 400  # same results?
    python benchmarks/fitmodel.py --backtest                            # backtest vs rebuild
    python benchmarks/fitmodel.py --shards 1,2,4                        # per-shard figures
    python benchmarks/fitmodel.py --shards-command 1,2,4                # corners rebuild itself

Generates events with the sample generator straight to Parquet (one file per stream, in time
order, as ingestion writes them), then runs each engine in a child process and prints wall
time and peak RSS: the polars full rebuild, the polars incremental refresh of one new day
(seeded with the previous day's rows), and the same indicators and scores as DuckDB SQL (the
baseline). `--check` compares the polars and DuckDB tables cell by cell instead.
`--backtest` instead builds a home from the same events (as `benchmarks/refresh.py` does) and
times the real `corners rebuild` and a `corners backtest` of a candidate with other weights,
each in its own process with its peak RSS.
Targets (2 cores): full rebuild no slower than DuckDB; incremental ≤ 5% of the full rebuild;
peak RSS ≤ 4 GB; a backtest ≤ 1.2× a rebuild, with no more memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from benchmarks.common import peak_rss_mb  # noqa: E402
from fitmodel.config import ModelConfig  # noqa: E402
from fitmodel.domain import STREAMS  # noqa: E402
from fitmodel.events import stream_schema  # noqa: E402
from fitmodel.score import TIE  # noqa: E402

AS_OF = date(2026, 6, 30)
CHUNK = 1_250_000
"""Partnership-days per grid chunk (bounds memory; the result does not depend on it)."""
STREAM_TYPES = {
    "meetings": ["meeting"],
    "escalations": ["escalation_opened", "escalation_resolved"],
    "communications": ["communication"],
    "surveys": ["survey_response"],
    "governance": ["renewal_decision", "diagnostic_response"],
}


def generate(work: Path, partnerships: int, days: int, seed: int, activity: float) -> int:
    from store.sample import events, registry

    rng = np.random.default_rng(seed)
    start = AS_OF - timedelta(days=days - 1)
    reg = registry(partnerships, start, days, rng)
    frames = events(reg, start, days, rng, activity)
    work.mkdir(parents=True, exist_ok=True)
    reg.drop("trajectory").write_parquet(work / "registry.parquet")
    total = 0
    for stream, types in STREAM_TYPES.items():
        schema = stream_schema(stream)
        parts = [frames[t].rename({"at": "occurred_at"}).drop("day") for t in types]
        table = pl.concat(parts, how="diagonal_relaxed")
        table = table.select(
            [
                _column(table, c, dtype)
                for c, dtype in schema.items()
                if c
                not in (
                    "extra",
                    "content_hash",
                    "ingested_at",
                    "source_file",
                    "file_hash",
                    "line_number",
                    "ingest_batch",
                )
            ]
        ).sort("occurred_at")
        table.write_parquet(work / f"{stream}.parquet", row_group_size=1_000_000)
        total += table.height
    return total


def _column(table: pl.DataFrame, name: str, dtype) -> pl.Expr:
    """`name` as stored: the sample writes dates as JSON text, as a landing file has them."""
    if name not in table.columns:
        return pl.lit(None).cast(dtype).alias(name)
    if dtype == pl.Date and table.schema[name] == pl.String:
        return pl.col(name).str.to_date("%Y-%m-%d").alias(name)
    return pl.col(name).cast(dtype).alias(name)


def _events(work: Path, governance: bool = True):
    """The events; without `governance`, an empty governance table (the cost it adds)."""
    from fitmodel.indicators import Events

    tables = {s: pl.scan_parquet(work / f"{s}.parquet") for s in STREAMS}
    if not governance:
        tables["governance"] = tables["governance"].head(0)
    return Events(*tables.values())


PREVIOUS = "previous_home/published/fit_health"
"""The day before's table, published as corners publishes it (for the incremental run)."""

ROW_GROUP = 100_000
"""Rows per Parquet row group: with rows ordered by day, a day's rows sit in few groups."""


def _write(chunks, out: Path) -> None:
    """Stream chunks into one Parquet file (nothing is held beyond a chunk)."""
    import pyarrow.parquet as pq

    writer = None
    for chunk in chunks:
        table = chunk.to_arrow()
        writer = writer or pq.ParquetWriter(out, table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    if writer:
        writer.close()


def _as_published(parquet: Path, delta: Path) -> None:
    """Store the previous day's table as corners publishes it: Delta, partitioned by day,
    with its position (`delta` is the table's folder, <home>/published/fit_health)."""
    import shutil

    from fitmodel.planning import Plan, model_hash
    from store.home import Home
    from store.publish import write_publication

    shutil.rmtree(delta, ignore_errors=True)
    rows = pl.read_parquet(parquet)
    day = rows["as_of"].max()
    plan = Plan(day, None, "rebuild", None, None, model_hash(ModelConfig()), rows.height)
    write_publication(Home(delta.parent.parent), rows, plan)


def run_polars_full(work: Path, as_of: date, out: Path, governance: bool = True) -> None:
    from fitmodel.score import iter_fit_health

    registry = pl.scan_parquet(work / "registry.parquet")
    events = _events(work, governance)
    _write(iter_fit_health(events, registry, as_of, ModelConfig(), chunk_rows=CHUNK), out)


def run_polars_incremental(work: Path, as_of: date, previous: Path, out: Path) -> None:
    """One new day: recompute only the days it can change, seeded from yesterday's rows."""
    from fitmodel.incremental import first_affected_day, recompute

    registry = pl.scan_parquet(work / "registry.parquet")
    start = first_affected_day(as_of, as_of - timedelta(days=1))
    chunks = recompute(
        pl.scan_delta(str(previous)),
        _events(work),
        registry,
        as_of,
        ModelConfig(),
        start,
        chunk_rows=CHUNK,
    )
    _write(chunks, out)


def duckdb_sql(work: Path, as_of: date, config: ModelConfig) -> str:
    """SPEC §4–§5 as plain DuckDB SQL over the same Parquet files."""
    w, c, b = config.windows, config.components, config.bands
    wc = {
        n: getattr(c, n)
        for n in (
            "survey",
            "collaboration",
            "responsiveness",
            "engagement",
            "innovation",
            "balance",
        )
    }
    d = f"DATE '{as_of}'"
    f = lambda name: f"read_parquet('{work / (name + '.parquet')}')"  # noqa: E731

    def comp(name: str, x: str) -> str:
        k = wc[name]
        return (
            f"CASE WHEN ({x}) IS NULL THEN NULL ELSE 100 * greatest(0, least(1, "
            f"(({x}) - ({k.bad})) / (({k.good}) - ({k.bad})))) END"
        )

    shares = {n: f"coalesce({wc[n].weight} * {n}_score, 0) / nullif(w_sum, 0)" for n in wc}
    lag = "PARTITION BY partnership_id ORDER BY as_of"
    present = "(" + " + ".join(f"CAST({n}_score IS NOT NULL AS INTEGER)" for n in wc) + ")"
    return f"""
SET TimeZone = 'UTC';
CREATE OR REPLACE TEMP TABLE reg AS SELECT * FROM {f("registry")};
CREATE OR REPLACE TEMP TABLE grid AS
  SELECT partnership_id AS p, started_on,
         CAST(unnest(generate_series(started_on - INTERVAL {max(w.survey_days, config.recent_survey_days)} DAY, last_day,
                                     INTERVAL 1 DAY)) AS DATE) AS d
  FROM (SELECT *, least(coalesce(ended_on, {d}), {d}) AS last_day FROM reg)
  WHERE started_on <= last_day;
CREATE OR REPLACE TEMP TABLE comm_d AS
  SELECT partnership_id AS p, CAST(occurred_at AS DATE) AS d,
         count(*) FILTER (WHERE NOT scheduled) AS unsched, count(*) AS n,
         count(*) FILTER (WHERE initiated_by = 'a') AS na,
         count(*) FILTER (WHERE initiated_by = 'b') AS nb
  FROM {f("communications")} WHERE CAST(occurred_at AS DATE) <= {d} GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE meet_d AS
  SELECT partnership_id AS p, CAST(occurred_at AS DATE) AS d, count(*) AS n,
         count(*) FILTER (WHERE meeting_kind = 'joint_problem_solving') AS ps,
         sum(ideas_generated) AS ideas
  FROM {f("meetings")} WHERE CAST(occurred_at AS DATE) <= {d} GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE pairs AS
  WITH o AS (
    SELECT * FROM (
      SELECT partnership_id AS p, escalation_id AS e, occurred_at AS opened_at, severity,
             row_number() OVER (PARTITION BY partnership_id, escalation_id
                                ORDER BY occurred_at, event_id) AS rn
      FROM {f("escalations")} WHERE event_type = 'escalation_opened') WHERE rn = 1),
  r AS (
    SELECT o.p, o.e, min(x.occurred_at) AS resolved_at
    FROM o JOIN {f("escalations")} x
      ON x.partnership_id = o.p AND x.escalation_id = o.e
     AND x.event_type = 'escalation_resolved' AND x.occurred_at >= o.opened_at
    GROUP BY ALL)
  SELECT o.p, o.e, o.opened_at, o.severity, CAST(o.opened_at AS DATE) AS opened_on,
         CASE WHEN CAST(r.resolved_at AS DATE) <= {d} THEN r.resolved_at END AS resolved_at,
         CASE WHEN CAST(r.resolved_at AS DATE) <= {d} THEN CAST(r.resolved_at AS DATE) END
           AS resolved_on
  FROM o LEFT JOIN r USING (p, e) WHERE CAST(o.opened_at AS DATE) <= {d};
CREATE OR REPLACE TEMP TABLE esc_d AS
  SELECT p, opened_on AS d, count(*) AS n, count(*) FILTER (WHERE severity = 'critical') AS crit
  FROM pairs GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE surv_d AS
  SELECT partnership_id AS p, CAST(occurred_at AS DATE) AS d, count(*) AS n,
         sum(culture) AS s_culture, sum(operations) AS s_operations,
         sum(strategy) AS s_strategy, sum(trust) AS s_trust,
         count(*) FILTER (WHERE respondent_side = 'a') AS na,
         count(*) FILTER (WHERE respondent_side = 'b') AS nb,
         coalesce(sum((culture + operations + strategy + trust) / 4.0)
           FILTER (WHERE respondent_side = 'a'), 0) AS sa,
         coalesce(sum((culture + operations + strategy + trust) / 4.0)
           FILTER (WHERE respondent_side = 'b'), 0) AS sb
  FROM {f("surveys")} WHERE CAST(occurred_at AS DATE) <= {d} GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE ev_days AS
  SELECT DISTINCT partnership_id AS p, CAST(occurred_at AS DATE) AS d FROM (
    SELECT partnership_id, occurred_at FROM {f("meetings")}
    UNION ALL SELECT partnership_id, occurred_at FROM {f("escalations")}
    UNION ALL SELECT partnership_id, occurred_at FROM {f("communications")}
    UNION ALL SELECT partnership_id, occurred_at FROM {f("surveys")}
    UNION ALL SELECT partnership_id, occurred_at FROM {f("governance")})
  WHERE CAST(occurred_at AS DATE) <= {d};
CREATE OR REPLACE TEMP TABLE win AS
  SELECT g.p, g.d, g.started_on,
    sum(coalesce(c.unsched, 0)) OVER w28 AS unsched,
    sum(coalesce(c.n, 0)) OVER w90 AS comms_90d,
    sum(coalesce(c.na, 0)) OVER w90 AS ca, sum(coalesce(c.nb, 0)) OVER w90 AS cb,
    sum(coalesce(m.n, 0)) OVER w90 AS meetings_90d,
    sum(coalesce(m.ps, 0)) OVER w90 AS problem_solving_90d,
    sum(coalesce(m.ideas, 0)) OVER w90 AS ideas_90d,
    sum(coalesce(x.n, 0)) OVER w90 AS escalations_90d,
    sum(coalesce(x.crit, 0)) OVER w90 AS critical_escalations_90d,
    sum(coalesce(s.n, 0)) OVER w120 AS survey_responses_120d,
    sum(coalesce(s.s_culture, 0)) OVER w120 AS s_culture,
    sum(coalesce(s.s_operations, 0)) OVER w120 AS s_operations,
    sum(coalesce(s.s_strategy, 0)) OVER w120 AS s_strategy,
    sum(coalesce(s.s_trust, 0)) OVER w120 AS s_trust,
    sum(coalesce(s.na, 0)) OVER w120 AS na, sum(coalesce(s.nb, 0)) OVER w120 AS nb,
    sum(coalesce(s.sa, 0)) OVER w120 AS sa, sum(coalesce(s.sb, 0)) OVER w120 AS sb,
    sum(coalesce(s.n, 0)) OVER wrecent AS recent_surveys
  FROM grid g
  LEFT JOIN comm_d c ON c.p = g.p AND c.d = g.d
  LEFT JOIN meet_d m ON m.p = g.p AND m.d = g.d
  LEFT JOIN esc_d x ON x.p = g.p AND x.d = g.d
  LEFT JOIN surv_d s ON s.p = g.p AND s.d = g.d
  WINDOW w28 AS (PARTITION BY g.p ORDER BY g.d ROWS BETWEEN {w.unscheduled_comms_days - 1} PRECEDING AND CURRENT ROW),
         w90 AS (PARTITION BY g.p ORDER BY g.d ROWS BETWEEN {w.activity_days - 1} PRECEDING AND CURRENT ROW),
         w120 AS (PARTITION BY g.p ORDER BY g.d ROWS BETWEEN {w.survey_days - 1} PRECEDING AND CURRENT ROW),
         wrecent AS (PARTITION BY g.p ORDER BY g.d ROWS BETWEEN {config.recent_survey_days - 1} PRECEDING AND CURRENT ROW);
DELETE FROM win WHERE d < started_on;
CREATE OR REPLACE TEMP TABLE open_x AS
  SELECT w.p, w.d, count(*) AS n, max(w.d - o.opened_on) AS oldest
  FROM win w JOIN pairs o ON o.p = w.p AND o.opened_on <= w.d
   AND (o.resolved_on IS NULL OR o.resolved_on > w.d)
  GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE med AS
  SELECT w.p, w.d, median(epoch(o.resolved_at - o.opened_at) / 86400.0) AS m
  FROM win w JOIN pairs o ON o.p = w.p AND o.resolved_on <= w.d
   AND o.resolved_on > w.d - {w.activity_days}
  GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE ind AS
  SELECT w.*, coalesce(ox.n, 0) AS open_escalations, ox.oldest AS oldest_open_escalation_days,
    md.m AS median_resolution_days_90d, w.d - e.d AS days_since_last_event,
    CASE WHEN survey_responses_120d > 0 THEN s_culture / survey_responses_120d END AS culture,
    CASE WHEN survey_responses_120d > 0 THEN s_operations / survey_responses_120d END AS operations,
    CASE WHEN survey_responses_120d > 0 THEN s_strategy / survey_responses_120d END AS strategy,
    CASE WHEN survey_responses_120d > 0 THEN s_trust / survey_responses_120d END AS trust
  FROM win w
  LEFT JOIN open_x ox ON ox.p = w.p AND ox.d = w.d
  LEFT JOIN med md ON md.p = w.p AND md.d = w.d
  ASOF LEFT JOIN ev_days e ON e.p = w.p AND w.d >= e.d;
CREATE OR REPLACE TEMP TABLE scored AS
  WITH x AS (
    SELECT *,
      unsched / ({w.unscheduled_comms_days} / 7.0) AS unscheduled_comms_per_week,
      CASE WHEN comms_90d > 0 THEN 1 - abs(ca - cb) / (ca + cb) END AS comms_balance_90d,
      CASE WHEN escalations_90d > 0 THEN problem_solving_90d / escalations_90d END
        AS ps_escalation_ratio_90d,
      CASE WHEN na > 0 AND nb > 0 THEN abs(sa / na - sb / nb) END AS side_gap
    FROM ind),
  y AS (
    SELECT *,
      {comp("survey", "CASE WHEN survey_responses_120d > 0 THEN (culture + operations + strategy + trust) / 4 END")} AS survey_score,
      {comp("collaboration", "problem_solving_90d / greatest(escalations_90d, 1)")} AS collaboration_score,
      {comp("responsiveness", "median_resolution_days_90d")} AS responsiveness_score,
      {comp("engagement", "unscheduled_comms_per_week")} AS engagement_score,
      {comp("innovation", "ideas_90d")} AS innovation_score,
      {comp("balance", "comms_balance_90d")} AS balance_score
    FROM x),
  z AS (
    SELECT *,
      {" + ".join(f"CASE WHEN {n}_score IS NULL THEN 0 ELSE {wc[n].weight} END" for n in wc)} AS w_sum,
      {" + ".join(f"coalesce({wc[n].weight} * {n}_score, 0)" for n in wc)} AS w_total
    FROM y)
  SELECT p AS partnership_id, d AS as_of, *,
    CASE WHEN w_sum >= {config.min_weight} THEN w_total / w_sum END AS fit_score,
    {", ".join(f"{shares[n]} AS share_{n}" for n in wc)}
  FROM z;
SELECT s.partnership_id, s.as_of, r.name, r.partner_a, r.partner_b, r.industry_a, r.industry_b,
  r.owner, unscheduled_comms_per_week, comms_90d, comms_balance_90d, meetings_90d,
  problem_solving_90d, ideas_90d, escalations_90d, critical_escalations_90d, open_escalations,
  oldest_open_escalation_days, median_resolution_days_90d, ps_escalation_ratio_90d,
  coalesce(escalations_90d > 0 AND ps_escalation_ratio_90d < {config.ratio_threshold}, false)
    AS ratio_below_3,
  culture, operations, strategy, trust, survey_responses_120d, side_gap,
  CASE WHEN culture IS NULL THEN NULL
       WHEN culture = least(culture, operations, strategy, trust) THEN 'culture'
       WHEN operations = least(culture, operations, strategy, trust) THEN 'operations'
       WHEN strategy = least(culture, operations, strategy, trust) THEN 'strategy'
       ELSE 'trust' END AS weakest_corner,
  coalesce(culture < {config.corner_threshold} OR operations < {config.corner_threshold}
    OR strategy < {config.corner_threshold} OR trust < {config.corner_threshold}, false)
    AS corner_below_7,
  days_since_last_event,
  CASE WHEN s.started_on + to_months(
         {w.renewal_months} * greatest(1, (datediff('month', s.started_on, s.as_of)) // {w.renewal_months}))
         >= s.as_of
       THEN s.started_on + to_months({w.renewal_months} * greatest(1, datediff('month', s.started_on, s.as_of) // {w.renewal_months}))
       ELSE s.started_on + to_months({w.renewal_months} * (greatest(1, datediff('month', s.started_on, s.as_of) // {w.renewal_months}) + 1))
  END AS next_renewal_gate,
  survey_score, collaboration_score, responsiveness_score, engagement_score, innovation_score,
  balance_score, fit_score,
  CASE WHEN fit_score IS NULL THEN 'insufficient_data' WHEN fit_score >= {b.healthy - TIE} THEN 'healthy'
       WHEN fit_score >= {b.watch - TIE} THEN 'watch' ELSE 'at_risk' END AS band,
  CASE WHEN lag(as_of, {w.trend_days}) OVER ({lag}) = as_of - {w.trend_days}
       THEN fit_score - lag(fit_score, {w.trend_days}) OVER ({lag}) END AS score_change_30d,
  {", ".join(f"share_{n} - lag(share_{n}, {w.trend_days}) OVER ({lag}) AS change_{n}" for n in wc)},
  CASE WHEN fit_score IS NULL THEN 'low'
       WHEN {present} >= 5 AND recent_surveys > 0 THEN 'high'
       WHEN survey_score IS NOT NULL OR {present} >= 5 THEN 'medium'
       ELSE 'low' END AS data_confidence
FROM scored s JOIN reg r USING (partnership_id)
ORDER BY partnership_id, as_of
"""


def run_duckdb(work: Path, as_of: date, out: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    *setup, final = duckdb_sql(work, as_of, ModelConfig()).strip().rstrip(";").split(";\n")
    for statement in setup:
        con.execute(statement)
    con.execute(f"COPY ({final}) TO '{out}' (FORMAT parquet)")


def child(kind: str, work: Path, as_of: date, out: Path, previous: Path | None) -> dict:
    args = [
        sys.executable,
        __file__,
        "--child",
        kind,
        str(work),
        as_of.isoformat(),
        str(out),
        str(previous or ""),
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


CANDIDATE = {"model": {"components": {"responsiveness": {"weight": 0.3, "bad": 30.0, "good": 2.0}}}}
"""The backtest's candidate: responsiveness weighted twice as much as by default."""


class Descendants:
    """The peak RSS (VmHWM, MB) of every process descended from this one, read from /proc
    every 0.2 s while it runs (Linux): the multiprocess executor's steps are children of
    its fork server, which no `RUSAGE_CHILDREN` of ours sees until it is reaped."""

    def __init__(self) -> None:
        import threading

        self.peaks: dict[str, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = os.getpid()
        while not self._done.wait(0.2):
            parents, hwm = {}, {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    status = Path(f"/proc/{entry}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                parents[int(entry)] = int(fields["PPid"])
                if "VmHWM" in fields:
                    hwm[int(entry)] = int(fields["VmHWM"].split()[0]) / 1024
            for pid, peak in hwm.items():
                up = parents.get(pid)
                while up and up != me:
                    up = parents.get(up)
                if up == me:
                    self.peaks[str(pid)] = max(self.peaks.get(str(pid), 0.0), peak)

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join()
        return self.peaks


def step_figures(home_dir: Path, peaks: dict[str, float]) -> list[str]:
    """Each step of the home's latest run: when it started, how long it took, and the peak
    RSS of its process (from the pid its STEP_WORKER_STARTED event names)."""
    os.environ["DAGSTER_HOME"] = str(home_dir / "dagster")
    import dagster as dg

    instance = dg.DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    began = instance.get_run_stats(run.run_id).start_time
    pid_of = {}
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED):
        event = record.dagster_event
        pid_of[event.step_key] = str(event.pid)
    lines = []
    for step in sorted(instance.get_run_step_stats(run.run_id), key=lambda s: s.start_time):
        peak = peaks.get(pid_of.get(step.step_key, ""), 0.0)
        lines.append(
            f"    {step.step_key:<38} from {step.start_time - began:6.1f} s, "
            f"{step.end_time - step.start_time:6.1f} s" + (f", peak {peak:,.0f} MB" if peak else "")
        )
    return lines


def command(*argv: str) -> dict:
    """A `corners` command in its own process: its wall time and peak RSS."""
    done = subprocess.run(
        [sys.executable, __file__, "--command", *argv], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(
            f"corners {' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def backtest_against_rebuild(work: Path, home_dir: Path) -> None:
    import yaml

    from benchmarks.refresh import build
    from store.home import Home

    t = time.perf_counter()
    home = Home(home_dir)
    build(work, home)
    print(f"built a home of the events in {time.perf_counter() - t:.0f} s: {home.root}")
    as_of = (AS_OF - timedelta(days=1)).isoformat()  # what the home has published
    rebuild = command("rebuild", "--home", str(home.root), "--as-of", as_of, "--quiet")
    print(f"corners rebuild: {rebuild['seconds']:.1f} s, peak RSS {rebuild['rss_mb']:,.0f} MB")
    candidate = home.root.parent / "heavier-responsiveness.yaml"
    candidate.write_text(yaml.safe_dump(CANDIDATE))
    test = command("backtest", "--home", str(home.root), "--config", str(candidate), "--quiet")
    print(
        f"corners backtest: {test['seconds']:.1f} s, peak RSS {test['rss_mb']:,.0f} MB "
        f"({test['seconds'] / rebuild['seconds']:.2f}x the rebuild's time, "
        f"{test['rss_mb'] / rebuild['rss_mb']:.2f}x its memory)"
    )


def shard_step(home_dir: str, shard: str, count: str) -> None:
    """What a shard's Dagster step does: compute its candidate rows, keep them."""
    from store import publish as rf
    from store.home import Home

    home = Home(Path(home_dir))
    config = _scaled(int(count))
    plan = rf.candidate_plan(home)
    rows = rf.compute_candidate(home, config, plan, shard=(int(shard), int(count)))
    rf.write_candidate(home, rows, plan, shard=int(shard))


def publication_step(home_dir: str, count: str) -> None:
    """What the publication step does: all shards' candidates into fit_health, one commit."""
    from store import publish as rf
    from store.home import Home

    home = Home(Path(home_dir))
    rf.publish_shards(home, rf.candidate_plan(home), int(count))


def _scaled(count: int):
    from fitmodel.config import CornersConfig

    return CornersConfig(scale={"shards": count})


def _step(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--step", *argv], stdout=subprocess.PIPE, text=True
    )


def _outcome(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a step failed ({process.args})")
    return json.loads(out.strip().splitlines()[-1])


def shards_against_one(work: Path, home_dir: Path, counts: list[int]) -> None:
    """A rebuild's fit steps with N shards: each shard in its own process, two at a time (the
    multiprocess executor with max_concurrent 2 on these 2 cores), then the one publication."""
    from benchmarks.refresh import build
    from store import publish as rf
    from store.home import Home

    home = Home(home_dir)
    if not delta_exists(home):
        t = time.perf_counter()
        build(work, home)
        print(f"built a home of the events in {time.perf_counter() - t:.0f} s: {home.root}")
    as_of = AS_OF - timedelta(days=1)
    for count in counts:
        config = _scaled(count)
        plan = rf.plan_refresh(home, as_of, config, rebuild=True)
        rf.write_candidate(home, rf.empty_candidate(), plan)
        started = time.perf_counter()
        pending, running, steps = list(range(count)), [], []
        while pending or running:
            while pending and len(running) < 2:
                running.append(_step("shard", str(home.root), str(pending.pop(0)), str(count)))
            steps.append(_outcome(running.pop(0)))
        shards_done = time.perf_counter() - started
        publication = _outcome(_step("publish", str(home.root), str(count)))
        wall = time.perf_counter() - started
        largest = max(s["rss_mb"] for s in steps)
        print(
            f"{count} shard(s): shards {shards_done:.1f} s (each {min(s['seconds'] for s in steps):.1f}"
            f"–{max(s['seconds'] for s in steps):.1f} s, peak RSS up to {largest:,.0f} MB), "
            f"publication {publication['seconds']:.1f} s and {publication['rss_mb']:,.0f} MB; "
            f"{wall:.1f} s in all, largest process {max(largest, publication['rss_mb']):,.0f} MB"
        )


def shards_by_the_command(work: Path, home_dir: Path, counts: list[int]) -> None:
    """`corners rebuild` itself with N shards: in one process for N = 1, and on the
    multiprocess executor (two steps at a time on these 2 cores) otherwise, each step's
    process start-up included; its wall time and the largest process's peak RSS."""
    import yaml

    from benchmarks.refresh import build
    from store.home import Home

    home = Home(home_dir)
    if not delta_exists(home):
        t = time.perf_counter()
        build(work, home)
        print(f"built a home of the events in {time.perf_counter() - t:.0f} s: {home.root}")
    as_of = (AS_OF - timedelta(days=1)).isoformat()
    for count in counts:
        executor = "in_process" if count == 1 else "multiprocess"
        config = home.root.parent / f"shards-{count}.yaml"
        scale = {"shards": count, "executor": executor, "max_concurrent": 2}
        config.write_text(yaml.safe_dump({"scale": scale}))
        done = command(
            "--config", str(config), "rebuild", "--home", str(home.root), "--as-of", as_of,
            "--quiet",
        )  # fmt: skip
        largest = max(done["rss_mb"], done["steps_rss_mb"])
        print(
            f"corners rebuild, {count} shard(s) ({executor}): {done['seconds']:.1f} s; largest "
            f"process {largest:,.0f} MB (the command's own {done['rss_mb']:,.0f} MB)"
        )
        if count > 1:
            print("\n".join(step_figures(home.root, done["pids"])))


def delta_exists(home) -> bool:
    from store import delta

    return delta.exists(home.path("fit_health"))


def check(polars_out: Path, duck_out: Path) -> None:
    from polars.testing import assert_frame_equal

    from fitmodel.score import COMPONENTS

    ours = pl.read_parquet(polars_out).sort("partnership_id", "as_of")
    theirs = pl.read_parquet(duck_out).sort("partnership_id", "as_of")
    changes = (
        pl.when(pl.col("score_change_30d").is_not_null())
        .then(pl.struct(**{n: pl.col(f"change_{n}") for n in COMPONENTS}))
        .alias("score_change_by_component")
    )
    lowest = pl.min_horizontal(*[pl.col(f"change_{n}") for n in COMPONENTS])
    driver = pl.when(pl.col("score_change_30d").is_null() | (lowest >= -TIE)).then(None)
    for n in COMPONENTS:
        driver = driver.when(pl.col(f"change_{n}") <= lowest + TIE).then(pl.lit(n))
    # The baseline computes SPEC §4–§5 only: the §9 columns are compared in the golden tests.
    ours = ours.select(
        c
        for c in ours.columns
        if c in theirs.columns or c in ("score_change_by_component", "top_negative_driver")
    )
    theirs = theirs.with_columns(changes, driver.alias("top_negative_driver")).select(ours.columns)
    theirs = theirs.cast(dict(ours.schema), strict=False)
    assert_frame_equal(ours, theirs, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    print(f"polars and DuckDB agree on all {ours.height:,} rows × {ours.width} columns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--activity",
        type=float,
        default=1.5,
        help="scale of communication and meeting rates (1.5 gives ≥ 50M events "
        "at the default size)",
    )
    parser.add_argument("--workdir", default="/tmp/corners-fitmodel-bench")
    parser.add_argument("--check", action="store_true", help="compare results, no timing")
    parser.add_argument(
        "--polars-only", action="store_true", help="skip the DuckDB baseline (about 2 minutes)"
    )
    parser.add_argument(
        "--incremental-only",
        action="store_true",
        help="time only the incremental step (needs an earlier full run)",
    )
    parser.add_argument(
        "--governance-cost",
        action="store_true",
        help="also time the full rebuild without the governance events (the cost they add)",
    )
    parser.add_argument(
        "--backtest",
        action="store_true",
        help="only time corners rebuild and corners backtest on a home of the events",
    )
    parser.add_argument(
        "--shards",
        help="only time a rebuild's fit steps with these numbers of shards (e.g. 1,2,4) on a "
        "home of the events",
    )
    parser.add_argument("--home", default="/tmp/corners-backtest-bench/home")
    parser.add_argument(
        "--shards-command",
        help="time `corners rebuild` itself with these numbers of shards (e.g. 1,2,4): the "
        "multiprocess executor for more than one, wall time and largest process",
    )
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        started = time.perf_counter()
        kind, *rest = args.step
        {"shard": shard_step, "publish": publication_step}[kind](*rest)
        print(json.dumps({"seconds": time.perf_counter() - started, "rss_mb": peak_rss_mb()}))
        return
    if args.command:
        from pipelines.cli.app import main as corners

        watch = Descendants()
        started = time.perf_counter()
        code = corners(args.command)
        seconds = time.perf_counter() - started
        peaks = watch.stop()
        steps = max(peaks.values(), default=0.0)
        print(
            json.dumps(
                {"seconds": seconds, "rss_mb": peak_rss_mb(), "steps_rss_mb": steps, "pids": peaks}
            )
        )
        sys.exit(code)
    if args.child:
        kind, work, as_of, out, previous = args.child
        started = time.perf_counter()
        day = date.fromisoformat(as_of)
        {
            "full": lambda: run_polars_full(Path(work), day, Path(out)),
            "full-bare": lambda: run_polars_full(Path(work), day, Path(out), governance=False),
            "incremental": lambda: run_polars_incremental(
                Path(work), day, Path(previous), Path(out)
            ),
            "duckdb": lambda: run_duckdb(Path(work), day, Path(out)),
            "publish": lambda: _as_published(Path(previous), Path(out)),
        }[kind]()
        print(
            json.dumps(
                {
                    "seconds": time.perf_counter() - started,
                    "rss_mb": peak_rss_mb(),
                }
            )
        )
        return

    work = Path(args.workdir) / f"{args.partnerships}x{args.days}-s{args.seed}-a{args.activity}"
    if not (work / "governance.parquet").exists():
        t = time.perf_counter()
        n = generate(work, args.partnerships, args.days, args.seed, args.activity)
        print(
            f"generated {n:,} events for {args.partnerships:,} partnerships × {args.days} days "
            f"({time.perf_counter() - t:.0f} s)"
        )
    else:
        n = sum(
            pl.scan_parquet(work / f"{s}.parquet").select(pl.len()).collect().item()
            for s in STREAMS
        )
        print(f"using {n:,} events in {work}")
    # The home needs the published rows of the day before.
    if (args.shards or args.shards_command or args.backtest) and not (
        work / "fit_previous.parquet"
    ).exists():
        child("full", work, AS_OF - timedelta(days=1), work / "fit_previous.parquet", None)
    if args.shards:
        shards_against_one(work, Path(args.home), [int(n) for n in args.shards.split(",")])
        return
    if args.shards_command:
        counts = [int(n) for n in args.shards_command.split(",")]
        shards_by_the_command(work, Path(args.home), counts)
        return
    if args.backtest:
        if not (work / "fit_previous.parquet").exists():
            child("full", work, AS_OF - timedelta(days=1), work / "fit_previous.parquet", None)
        backtest_against_rebuild(work, Path(args.home))
        return
    if args.incremental_only:
        if not (work / PREVIOUS).exists():
            child("publish", work, AS_OF, work / PREVIOUS, work / "fit_previous.parquet")
        inc = child(
            "incremental",
            work,
            AS_OF,
            work / "fit_incremental.parquet",
            work / PREVIOUS,
        )
        print(
            f"polars one-day incremental: {inc['seconds']:.2f} s, peak RSS {inc['rss_mb']:,.0f} MB"
        )
        return
    full = child("full", work, AS_OF, work / "fit_polars.parquet", None)
    rows = pl.scan_parquet(work / "fit_polars.parquet").select(pl.len()).collect().item()
    print(
        f"polars full rebuild: {rows:,} partnership-days in {full['seconds']:.1f} s, "
        f"peak RSS {full['rss_mb']:,.0f} MB"
    )
    if args.governance_cost:
        bare = child("full-bare", work, AS_OF, work / "fit_bare.parquet", None)
        print(
            f"polars full rebuild without governance events: {bare['seconds']:.1f} s, peak RSS "
            f"{bare['rss_mb']:,.0f} MB; with them {100 * (full['seconds'] / bare['seconds'] - 1):+.1f}%"
        )
    duck = None
    if not args.polars_only:
        duck = child("duckdb", work, AS_OF, work / "fit_duckdb.parquet", None)
        print(f"duckdb SQL baseline: {duck['seconds']:.1f} s, peak RSS {duck['rss_mb']:,.0f} MB")
    if args.check:
        check(work / "fit_polars.parquet", work / "fit_duckdb.parquet")
        return
    previous = work / "fit_previous.parquet"
    child("full", work, AS_OF - timedelta(days=1), previous, None)
    child("publish", work, AS_OF, work / PREVIOUS, previous)
    inc = child("incremental", work, AS_OF, work / "fit_incremental.parquet", work / PREVIOUS)
    print(
        f"polars one-day incremental: {inc['seconds']:.2f} s "
        f"({100 * inc['seconds'] / full['seconds']:.1f}% of the full rebuild), "
        f"peak RSS {inc['rss_mb']:,.0f} MB"
    )
    if duck:
        print(f"full rebuild / DuckDB: {full['seconds'] / duck['seconds']:.2f}x")


if __name__ == "__main__":
    main()
