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
from pipelines.ingest import AccountingError, IngestError, IngestReport, ingest
from pipelines.progress import Progress
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


def cmd_demo(args: argparse.Namespace) -> int:
    """Sample data, ingest, and the fit model over it, with a summary."""
    from datetime import UTC, datetime, timedelta

    from fitmodel.events import STREAMS
    from fitmodel.indicators import Events
    from fitmodel.score import fit_health
    from pipelines.store import QUARANTINE_SCHEMA, REGISTRY_SCHEMA, scan, scan_events

    home = _home(args)
    config = _config(args)
    landing = _landing(args, home)
    as_of = datetime.now(UTC).date() - timedelta(days=1)
    summary = write_sample(landing, partnerships=24, days=400, seed=7, bad_rate=0.01, end=as_of)
    print(f"sample: {summary.partnerships} partnerships, {summary.lines:,} lines in {landing}")
    report = ingest(
        home,
        landing,
        config,
        progress=Progress("ingest", enabled=None if not args.quiet else False),
    )
    t = report.totals()
    print(
        f"ingest: {t['lines_read']:,} read = {t['stored']:,} stored + {t['duplicates']:,} "
        f"duplicates + {t['quarantined']:,} quarantined"
    )
    events = Events(*(scan_events(home, s) for s in STREAMS))
    rows = fit_health(events, scan(home.registry, REGISTRY_SCHEMA), as_of, config.model).collect()
    latest = rows.filter(pl.col("as_of") == pl.col("as_of").max().over("partnership_id"))
    print(f"fit model: {rows.height:,} partnership-days through {as_of}")
    bands = latest.group_by("band").len().sort("band")
    print(
        "partnerships per band (latest day): " + ", ".join(f"{b} {n}" for b, n in bands.iter_rows())
    )
    movers = (
        latest.filter(pl.col("score_change_30d").is_not_null()).sort("score_change_30d").head(5)
    )
    print("most degraded over 30 days:")
    for r in movers.iter_rows(named=True):
        print(
            f"  {r['partnership_id']} {r['name']:<28} fit {r['fit_score']:5.1f} "
            f"({r['score_change_30d']:+.1f}), band {r['band']}, driver {r['top_negative_driver']}"
        )
    quarantine = (
        scan(home.quarantine, QUARANTINE_SCHEMA).select(pl.col("reasons").explode()).collect()
    )
    counts = quarantine.group_by("reasons").len().sort("len", descending=True)
    print("quarantined lines by reason: " + ", ".join(f"{r} {n}" for r, n in counts.iter_rows()))
    print(f"event store: {home.root}/events/<stream>, quarantine: {home.quarantine} (Delta tables)")
    return EXIT_INPUT if report.errors else EXIT_OK


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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help="corners home folder (default: $CORNERS_HOME, else ./.corners)"
    )
    common.add_argument("--landing", help="landing folder to ingest (default: <home>/landing)")
    common.add_argument(
        "--config", help="configuration file (default: $CORNERS_CONFIG, else built-in defaults)"
    )
    common.add_argument("--quiet", action="store_true", help="no progress output")

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
        "demo",
        parents=[common],
        formatter_class=raw,
        help="generate sample data, ingest it and run the fit model, with a summary",
        description="Write a sample landing folder (24 partnerships, 400 days, 1%% bad lines) to "
        "<home>/landing, ingest it, compute fit-health through yesterday and print partnerships "
        "per band, the most degraded partnerships with their drivers, and quarantine counts.",
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
