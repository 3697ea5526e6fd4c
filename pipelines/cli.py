"""The `corners` command line (SPEC §8)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from datetime import date
from pathlib import Path

import polars as pl

from fitmodel.config import ConfigError, CornersConfig, load_config
from pipelines import store
from pipelines.ingest import AccountingError, IngestError, IngestReport, ingest
from pipelines.progress import Progress
from pipelines.resources import CornersResource
from pipelines.sample import write_sample
from pipelines.store import Home

EXIT_OK, EXIT_INPUT, EXIT_FAIL = 0, 1, 2


class CliError(RuntimeError):
    """A command that cannot do its job; printed without a traceback."""


def _home(args: argparse.Namespace) -> Home:
    root = args.home or os.environ.get("CORNERS_HOME") or ".corners"
    return Home(Path(root).resolve())


def _landing(args: argparse.Namespace, home: Home) -> Path:
    return Path(args.landing).resolve() if args.landing else home.root / "landing"


def _config(args: argparse.Namespace) -> CornersConfig:
    return load_config(args.config)


def print_accounting(report: IngestReport, out=sys.stdout) -> None:
    """Per-file and total accounting: read = stored + duplicates + quarantined."""
    files = report.files
    if files.height:
        width = min(max(files["source_file"].str.len_chars().max() or 0, 4), 70)
        head = f"{'file':<{width}}  {'kind':<5} {'read':>9} {'stored':>9} {'dupes':>7} {'quar.':>7}"
        print(head, file=out)
        for r in files.sort("source_file", "kind").iter_rows(named=True):
            name = r["source_file"]
            if len(name) > width:
                name = "…" + name[-(width - 1) :]
            print(
                f"{name:<{width}}  {r['kind']:<5} {r['lines_read']:>9,} {r['stored']:>9,} "
                f"{r['duplicates']:>7,} {r['quarantined']:>7,}",
                file=out,
            )
    t = report.totals()
    print(
        f"total: {len(files.filter(pl.col('kind') == 'file'))} new file(s), "
        f"{t['lines_read']:,} lines read = {t['stored']:,} stored + {t['duplicates']:,} "
        f"duplicates + {t['quarantined']:,} quarantined"
        + (
            f" (retries moved {files.filter(pl.col('kind') == 'retry')['stored'].sum():,} "
            f"quarantined line(s) into the store)"
            if (files["kind"] == "retry").any()
            else ""
        ),
        file=out,
    )
    if report.skipped:
        print(f"{len(report.skipped)} file(s) already ingested, skipped", file=out)
    for entry in report.ignored:
        print(f"ignored: {entry}", file=sys.stderr)
    if report.registry_rows is not None:
        print(f"registry replaced: {report.registry_rows} partnership(s)", file=out)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if report.seconds:
        rate = t["lines_read"] / report.seconds
        print(f"took {report.seconds:.1f} s ({rate:,.0f} lines/s)", file=out)


def cmd_sample(args: argparse.Namespace) -> int:
    summary = write_sample(
        Path(args.out),
        partnerships=args.partnerships,
        days=args.days,
        seed=args.seed,
        bad_rate=args.bad_rate,
        end=args.end,
    )
    print(
        f"wrote {summary.partnerships} partnerships, {summary.events:,} events as "
        f"{summary.lines:,} lines in {summary.files} files to {args.out}"
    )
    return EXIT_OK


def cmd_ingest(args: argparse.Namespace) -> int:
    home = _home(args)
    config = _config(args)
    progress = Progress("ingest", enabled=None if not args.quiet else False)
    report = ingest(home, _landing(args, home), config, progress=progress)
    print_accounting(report)
    return EXIT_INPUT if report.errors else EXIT_OK


def _resource(args: argparse.Namespace) -> CornersResource:
    home = _home(args)
    _config(args)  # fail early, with the key's path, on a bad configuration
    return CornersResource(
        home=str(home.root),
        landing=str(_landing(args, home)),
        config_path=args.config or os.environ.get("CORNERS_CONFIG"),
    )


def _run(args: argparse.Namespace, *, as_of: date | None, rebuild: bool) -> int:
    from pipelines.run import RefreshBusy, run_refresh

    corners = _resource(args)
    if not corners.landing_dir.is_dir():
        raise CliError(f"landing folder not found: {corners.landing_dir}")
    try:
        outcome = run_refresh(corners, as_of=as_of, rebuild=rebuild)
    except RefreshBusy as exc:
        raise CliError(str(exc)) from None
    for text in outcome.failed_checks:
        print(text, file=sys.stderr)
    if outcome.error and not outcome.blocking_failed:
        raise CliError(f"refresh failed (run {outcome.run_id}):\n{outcome.error}")
    if not outcome.published:
        print(
            f"corners: error: fit_health was not published: blocking checks failed (run "
            f"{outcome.run_id}); the last good version "
            f"{'(v' + str(outcome.version) + ') ' if outcome.version is not None else ''}"
            "stays readable",
            file=sys.stderr,
        )
        return EXIT_FAIL
    print(_refresh_summary(corners.layout))
    return EXIT_OK


def _refresh_summary(home: Home) -> str:
    from pipelines.refresh import fit_health_path, last_refresh

    last = last_refresh(home)
    # The partnerships running on as_of: one partition of the table.
    latest = pl.scan_delta(str(fit_health_path(home))).filter(pl.col("as_of") == last["as_of"])
    bands = latest.group_by("band").len().sort("band").collect()
    lines = [
        f"published fit_health through {last['as_of']} ({last['mode']}: "
        f"{'all days' if last['start'] is None else 'days from ' + str(last['start'])}, "
        f"{last['rows']:,} rows written, Delta version {last['published_version']})",
        "partnerships per band (latest day): "
        + ", ".join(f"{b} {n}" for b, n in bands.iter_rows()),
    ]
    lines += _alerts_summary(home)
    from pipelines.report import report_path

    report = report_path(home, last["as_of"])
    if report.exists():
        lines.append(f"report: {report}")
    return "\n".join(lines)


def _alerts_summary(home: Home) -> list[str]:
    from pipelines.alerting import alerts_path
    from pipelines.notify import RUN_SCHEMA, runs_path

    if not store.exists(alerts_path(home)):
        return []
    open_now = pl.read_delta(str(alerts_path(home))).filter(pl.col("status") == "open")
    severities = open_now.group_by("severity").len().sort("severity").iter_rows()
    lines = [
        f"open alerts: {open_now.height}"
        + "".join(f", {n} {s}" for s, n in severities)
        + " (corners alerts --open)"
    ]
    runs = store.scan(runs_path(home), RUN_SCHEMA).sort("ran_at").collect()
    if runs.height:
        run = runs.row(-1, named=True)
        lines.append(
            f"notifications: {run['enqueued']} transition(s) queued, {run['delivered']} "
            f"delivered, {run['failed']} failed (retried next refresh), {run['held']} held "
            f"by snoozes"
        )
    return lines


def cmd_refresh(args: argparse.Namespace) -> int:
    return _run(args, as_of=args.as_of, rebuild=False)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from pipelines.refresh import last_refresh

    last = last_refresh(_home(args))
    if last is None:
        raise CliError("nothing to rebuild: no refresh has run in this home yet")
    return _run(args, as_of=last["as_of"], rebuild=True)


def cmd_query(args: argparse.Namespace) -> int:
    from pipelines.query import run_query, write_result

    frame = run_query(_home(args), args.sql)
    if args.format == "table":
        if args.output:
            raise CliError("--output needs --format csv, json or parquet")
        with pl.Config(
            tbl_rows=args.limit,
            tbl_cols=-1,
            fmt_str_lengths=60,
            tbl_hide_dataframe_shape=True,
            tbl_width_chars=200,
        ):
            print(frame.head(args.limit))
        if frame.height > args.limit:
            print(f"({frame.height:,} rows; {args.limit} shown, use --limit or --format)")
        return EXIT_OK
    write_result(frame, args.format, args.output)
    return EXIT_OK


def _alerts_table(home: Home) -> pl.DataFrame:
    from pipelines.alerting import alerts_path

    path = alerts_path(home)
    if not store.exists(path):
        raise CliError(f"no alerts table yet in {path.parent}: run corners refresh first")
    return pl.read_delta(str(path))


def cmd_alerts(args: argparse.Namespace) -> int:
    from pipelines.notify import read_actions

    if args.action:
        return args.action_func(args)
    home = _home(args)
    table = _alerts_table(home)
    if args.open:
        table = table.filter(pl.col("status") == "open")
    if args.owner:
        table = table.filter(pl.col("owner") == args.owner)
    actions = read_actions(home)
    acked = (
        actions.filter(pl.col("action") == "ack")
        .group_by("alert_id")
        .agg(pl.col("actor").first().alias("acked_by"))
    )
    snoozed = (
        actions.filter(pl.col("action") == "snooze")
        .group_by("alert_id")
        .agg(pl.col("until").sort_by("recorded_at").last().alias("snoozed_until"))
    )
    table = (
        table.join(acked, on="alert_id", how="left")
        .join(snoozed, on="alert_id", how="left")
        .sort("opened_on", "partnership_id", descending=[True, False])
    )
    shown = table.select(
        "alert_id",
        "severity",
        "status",
        "opened_on",
        "resolved_on",
        "owner",
        "acked_by",
        "snoozed_until",
        "explanation",
    )
    with pl.Config(
        tbl_rows=args.limit,
        tbl_cols=-1,
        fmt_str_lengths=90,
        tbl_hide_dataframe_shape=True,
        tbl_width_chars=240,
    ):
        print(shown.head(args.limit))
    print(
        f"{table.height:,} alert(s)"
        + (f", {args.limit} shown" if table.height > args.limit else "")
    )
    return EXIT_OK


def _one_alert(home: Home, alert_id: str) -> dict:
    found = _alerts_table(home).filter(pl.col("alert_id") == alert_id)
    if found.is_empty():
        raise CliError(f"no alert {alert_id!r} in the alerts table (see corners alerts)")
    return found.row(0, named=True)


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    from pipelines.notify import record_action

    home = _home(args)
    alert = _one_alert(home, args.alert_id)
    record_action(home, alert, "ack", args.by, reason=args.reason)
    print(f"acknowledged {alert['alert_id']} ({alert['status']}) as {args.by}")
    return EXIT_OK


def cmd_alerts_snooze(args: argparse.Namespace) -> int:
    from pipelines.notify import record_action

    home = _home(args)
    alert = _one_alert(home, args.alert_id)
    if args.until < alert["last_seen_on"]:
        raise CliError(
            f"--until {args.until} is before the alert's last day {alert['last_seen_on']}: "
            "the snooze would have no effect"
        )
    record_action(home, alert, "snooze", args.by, until=args.until, reason=args.reason)
    print(
        f"snoozed {alert['alert_id']} through {args.until}: no {alert['severity']} or lower "
        f"notifications for {alert['partnership_id']} until then"
    )
    return EXIT_OK


def _published_fit_health(home: Home) -> Path:
    from pipelines.refresh import fit_health_path

    path = fit_health_path(home)
    if not store.exists(path):
        raise CliError(f"no fit_health table yet in {path.parent}: run corners refresh first")
    return path


def cmd_explain(args: argparse.Namespace) -> int:
    from fitmodel.explain import ExplainError, explain
    from pipelines.refresh import events_of

    home = _home(args)
    path = _published_fit_health(home)
    try:
        result = explain(
            pl.scan_delta(str(path)),
            events_of(home),
            args.partnership_id,
            args.as_of,
            args.days,
            _config(args).model,
            drivers=args.drivers,
        )
    except ExplainError as exc:
        raise CliError(str(exc)) from None
    print(render_explanation(result))
    return EXIT_OK


def _num(value, fmt: str = ".1f") -> str:
    return "null" if value is None else format(value, fmt)


def render_explanation(result) -> str:
    s = result.summary.row(0, named=True)
    lines = [
        f"{s['partnership_id']} {s['name']} (owner {s['owner']}), {s['since']} → {s['as_of']}",
        f"fit score {_num(s['fit_score_then'])} → {_num(s['fit_score'])} "
        f"(change {_num(s['change'], '+.1f')}), band {s['band_then']} → {s['band']}, "
        f"data confidence {s['data_confidence']}",
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


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.report import build_report

    home = _home(args)
    _published_fit_health(home)
    print(build_report(home, _config(args), args.as_of))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Sample data, then a full refresh through yesterday, with a summary."""
    from datetime import UTC, datetime, timedelta

    from pipelines.refresh import fit_health_path
    from pipelines.store import QUARANTINE_SCHEMA, scan

    home = _home(args)
    landing = _landing(args, home)
    as_of = datetime.now(UTC).date() - timedelta(days=1)
    summary = write_sample(landing, partnerships=24, days=400, seed=7, bad_rate=0.01, end=as_of)
    print(f"sample: {summary.partnerships} partnerships, {summary.lines:,} lines in {landing}")
    code = _run(args, as_of=as_of, rebuild=False)
    if code != EXIT_OK:
        return code
    from pipelines.ingest import accounting

    files = accounting(home).select(
        pl.col("lines_read", "stored", "duplicates", "quarantined").sum()
    )
    read, stored, dupes, quarantined = files.row(0)
    print(
        f"ingested: {read:,} lines read = {stored:,} stored + {dupes:,} duplicates + "
        f"{quarantined:,} quarantined"
    )
    latest = pl.read_delta(str(fit_health_path(home))).filter(pl.col("as_of") == as_of)
    movers = latest.filter(pl.col("score_change_30d").is_not_null()).sort("score_change_30d")
    print("most degraded over 30 days:")
    for r in movers.head(5).iter_rows(named=True):
        print(
            f"  {r['partnership_id']} {r['name']:<28} fit {r['fit_score']:5.1f} "
            f"({r['score_change_30d']:+.1f}), band {r['band']}, "
            f"driver {r['top_negative_driver'] or '-'}"
        )
    quarantine = scan(home.quarantine, QUARANTINE_SCHEMA).select(pl.col("reasons").explode())
    counts = quarantine.group_by("reasons").len().sort("len", descending=True).collect()
    print("quarantined lines by reason: " + ", ".join(f"{r} {n}" for r, n in counts.iter_rows()))
    print(f"tables: {home.published}/fit_health, {home.root}/events/<stream>, {home.quarantine}")
    print(
        f'query:  corners query --home {home.root} "SELECT band, count(*) FROM fit_health '
        'WHERE as_of = (SELECT max(as_of) FROM fit_health) GROUP BY band"'
    )
    if movers.height:
        print(f"why:    corners explain {movers['partnership_id'][0]} --home {home.root}")
    print(
        f"UI:     CORNERS_HOME={home.root} DAGSTER_HOME={home.dagster} "
        "dagster dev -w workspace.yaml"
    )
    return EXIT_OK


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return value


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  ")


def _common_options(parser: argparse.ArgumentParser, **default: object) -> None:
    """The options every command takes, before or after its name."""
    parser.add_argument(
        "--home", help="corners home folder (default: $CORNERS_HOME, else ./.corners)", **default
    )
    parser.add_argument(
        "--landing", help="landing folder to ingest (default: <home>/landing)", **default
    )
    parser.add_argument(
        "--config",
        help="configuration file (default: $CORNERS_CONFIG, else built-in defaults)",
        **default,
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output", **default)


def build_parser() -> argparse.ArgumentParser:
    # Given after the command, an option wins; not given there, it must not reset the value
    # given before the command (`corners --home H demo`), hence SUPPRESS.
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, default=argparse.SUPPRESS)

    parser = argparse.ArgumentParser(
        prog="corners",
        description="Partnership fit-health from events: ingest, project, check, publish, alert.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples(
            """
            corners sample ./landing --partnerships 50 --days 365 --seed 7
            corners ingest --landing ./landing --home ./.corners
            """
        ),
    )
    _common_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "sample",
        parents=[common],
        formatter_class=raw,
        help="write a realistic sample landing folder",
        description="Write partnerships.csv and weekly JSONL files per stream, with partnerships "
        "on distinct trajectories (healthy, degrading, collapse, recovering, quiet, "
        "escalation_heavy), late and re-sent events, and optionally bad lines of every kind. "
        "Deterministic for a seed and end date.",
        epilog=_examples("corners sample ./landing --partnerships 20 --days 400 --bad-rate 0.01"),
    )
    p.add_argument("out", help="folder to write (created if missing)")
    p.add_argument("--partnerships", type=int, default=24, help="how many (default 24)")
    p.add_argument("--days", type=int, default=400, help="days of history (default 400)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--bad-rate", type=_rate, default=0.0, help="share of bad lines, 0..1")
    p.add_argument("--end", type=_date, help="last day of events (default: yesterday, UTC)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "ingest",
        parents=[common],
        formatter_class=raw,
        help="ingest the landing folder into the event store",
        description="Validate every new landing file, append valid events to the Delta event "
        "tables, quarantine bad lines with their reasons, and print per-file accounting "
        "(read = stored + duplicates + quarantined). Files already ingested are skipped.",
        epilog=_examples("corners ingest --landing ./landing"),
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "refresh",
        parents=[common],
        formatter_class=raw,
        help="the nightly job: ingest, project, check, publish",
        description="Ingest new landing files, recompute the fit-health days that can have "
        "changed, audit them with the blocking data-quality checks and publish them to "
        "<home>/published/fit_health. A failing check publishes nothing and names the check "
        "and sample rows. Runs the Dagster assets in-process, recorded under <home>/dagster.",
        epilog=_examples("corners refresh\ncorners refresh --as-of 2026-03-31"),
    )
    p.add_argument("--as-of", type=_date, help="last day to compute (default: yesterday, UTC)")
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser(
        "rebuild",
        parents=[common],
        formatter_class=raw,
        help="recompute every day from the event store and republish",
        description="Recompute fit-health for every day through the last refresh's as_of from "
        "the event store alone, check it and republish. The result equals what the incremental "
        "refreshes published.",
        epilog=_examples("corners rebuild"),
    )
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser(
        "query",
        parents=[common],
        formatter_class=raw,
        help="SQL over fit_health, alerts, quarantine and the event tables",
        description="Run DuckDB SQL over the tables: fit_health, alerts, quarantine, registry, "
        "ingest_log, meetings, escalations, communications, surveys. Prints an aligned table, "
        "or writes csv, json (one object per line) or parquet.",
        epilog=_examples(
            """
            corners query "SELECT band, count(*) FROM fit_health GROUP BY band"
            corners query "SELECT * FROM quarantine" --format csv --output quarantine.csv
            """
        ),
    )
    p.add_argument("sql", help="the query")
    p.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    p.add_argument("--output", help="file to write (csv and json default to standard output)")
    p.add_argument("--limit", type=int, default=50, help="rows shown as a table (default 50)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser(
        "alerts",
        parents=[common],
        formatter_class=raw,
        help="list, acknowledge and snooze alert episodes",
        description="List alert episodes from <home>/published/alerts, newest first: each "
        "rule's runs of consecutive days per partnership, open or resolved, with owner, "
        "acknowledgement, snooze and a one-line explanation. `ack` and `snooze` record an "
        "action (append-only, in <home>/alert_actions) that the next refresh's notifications "
        "honour.",
        epilog=_examples(
            "corners alerts --open\n"
            "corners alerts --owner ana.silva\n"
            "corners alerts ack P00007:at_risk:2026-11-20 --reason 'call booked'\n"
            "corners alerts snooze P00007:gone_quiet:2026-11-02 --until 2026-12-01"
        ),
    )
    p.add_argument("--open", action="store_true", help="only open episodes")
    p.add_argument("--owner", help="only this owner's partnerships")
    p.add_argument("--limit", type=int, default=50, help="rows shown (default 50)")
    p.set_defaults(func=cmd_alerts, action=None)
    actions = p.add_subparsers(dest="action", metavar="{ack,snooze}")
    who = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `corners alerts --home H ack ID` keeps the --home given before `ack`.
    who.add_argument("--home", default=argparse.SUPPRESS, help="corners home folder")
    who.add_argument("--config", default=argparse.SUPPRESS, help="configuration file")
    who.add_argument("alert_id", help="the alert, as listed by corners alerts")
    who.add_argument("--reason", help="free text kept with the action")
    who.add_argument(
        "--by",
        default=os.environ.get("USER") or "unknown",
        help="who acts (default $USER)",
    )
    a = actions.add_parser(
        "ack",
        parents=[who],
        help="acknowledge an alert: its opening is not notified if not sent yet",
        description="Acknowledge an alert. An opening not yet delivered is dropped; its "
        "resolution is still notified.",
    )
    a.set_defaults(action_func=cmd_alerts_ack)
    a = actions.add_parser(
        "snooze",
        parents=[who],
        help="hold an alert's notifications through a date",
        description="Snooze an alert through --until (inclusive, in fit-health days): its "
        "partnership's transitions of the same or lower severity are held, and sent when the "
        "snooze ends; a more severe transition is sent at once.",
    )
    a.add_argument("--until", type=_date, required=True, help="last snoozed day (YYYY-MM-DD)")
    a.set_defaults(action_func=cmd_alerts_snooze)

    p = sub.add_parser(
        "explain",
        parents=[common],
        formatter_class=raw,
        help="why a partnership's fit score moved, down to the events",
        description="Compare a partnership's fit-health row on --as-of (default: its latest) "
        "with the row --days earlier: score, band and data confidence, the change by "
        "component (SPEC score_change_by_component over the period), and for the components "
        "that pulled the score down the most, the events behind them with date and event id. "
        "In Python: fitmodel.explain.explain(...) returns the same as data frames.",
        epilog=_examples(
            "corners explain P00015\ncorners explain P00015 --as-of 2026-10-01 --days 90"
        ),
    )
    p.add_argument("partnership_id", help="the partnership, e.g. P00015")
    p.add_argument("--as-of", type=_date, help="the day to explain (default: its latest row)")
    p.add_argument(
        "--days", type=int, default=30, help="compare with this many days earlier (default 30)"
    )
    p.add_argument(
        "--drivers",
        type=int,
        default=3,
        help="show the events behind this many negative components (default 3; 6 = all)",
    )
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "report",
        parents=[common],
        formatter_class=raw,
        help="write the HTML fit-health report again",
        description="Write <home>/reports/<as_of>.html (every refresh does) and print its path: "
        "a self-contained page (no network needed) with bands over time, biggest movers, "
        "trends of partnerships at risk, corner distributions, data confidence, open alerts, "
        "restatements and data quality.",
        epilog=_examples("corners report\ncorners report --as-of 2026-10-31"),
    )
    p.add_argument("--as-of", type=_date, help="the day to report on (default: the latest)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "demo",
        parents=[common],
        formatter_class=raw,
        help="generate sample data and run a full refresh on it, with a summary",
        description="Write a sample landing folder (24 partnerships, 400 days, 1%% bad lines) to "
        "<home>/landing, run a refresh through yesterday (ingest, fit model, checks, publish) "
        "and print partnerships per band, the most degraded partnerships with their drivers, "
        "quarantine counts, where the tables are, how to query them and how to open the UI.",
        epilog=_examples("corners demo --home /tmp/corners-demo"),
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, IngestError, AccountingError, CliError, ValueError) as exc:
        print(f"corners: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("corners: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
