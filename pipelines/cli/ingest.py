"""`corners ingest`: the landing folder into the event store, with per-file accounting."""

from __future__ import annotations

import sys

import click
import polars as pl

from pipelines.cli.options import EXIT_INPUT, EXIT_OK, App, command_options, examples
from store.ingest import IngestReport
from store.ingest import ingest as run_ingest
from store.progress import Progress


def print_accounting(report: IngestReport, out=None) -> None:
    """Per-file and total accounting: read = stored + duplicates + quarantined."""
    out = out or sys.stdout
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
    retries = files.filter(pl.col("kind") == "retry")
    print(
        f"total: {files.filter(pl.col('kind') == 'file').height} new file(s), "
        f"{t['lines_read']:,} lines read = {t['stored']:,} stored + {t['duplicates']:,} "
        f"duplicates + {t['quarantined']:,} quarantined"
        + (
            f" (retries moved {retries['stored'].sum():,} quarantined line(s) into the store)"
            if retries.height
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


@click.command(
    epilog=examples(
        "corners ingest --landing ./landing", "corners ingest --home /data/corners --quiet"
    ),
)
@command_options
def ingest(app: App):
    """Validate every new landing file, append valid events to the Delta event tables, quarantine
    bad lines with their reasons, and print per-file accounting (read = stored + duplicates +
    quarantined). Files already ingested are skipped; files outside the stream folders are listed
    as ignored; a file that cannot be read is refused (exit 1) and read again by the next ingest."""
    progress = Progress("ingest", enabled=app.progress)
    report = run_ingest(app.home, app.landing_dir, app.config, progress=progress)
    print_accounting(report)
    return EXIT_INPUT if report.errors else EXIT_OK
