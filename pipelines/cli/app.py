"""The `corners` group: commands loaded when invoked, and `main`'s error handling."""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

import click

from pipelines.cli.options import EXIT_FAIL, Common, examples, group_options

COMMANDS = {
    "sample": ("pipelines.cli.sample", "write a realistic sample landing folder"),
    "ingest": ("pipelines.cli.ingest", "ingest the landing folder into the event store"),
    "refresh": ("pipelines.cli.refresh", "the nightly job: ingest, project, check, publish"),
    "rebuild": ("pipelines.cli.refresh", "recompute every day from the event store, republish"),
    "query": ("pipelines.cli.query", "SQL over fit_health, alerts, quarantine and the rest"),
    "alerts": ("pipelines.cli.alerts", "list, acknowledge and snooze alert episodes"),
    "explain": ("pipelines.cli.explain", "why a partnership's fit score moved, to the events"),
    "report": ("pipelines.cli.report", "write the HTML fit-health report again"),
    "validate": ("pipelines.cli.validate", "does the fit score predict the renewal gates?"),
    "backtest": ("pipelines.cli.backtest", "replay history under a candidate configuration"),
    "demo": ("pipelines.cli.demo", "sample data and a full refresh, with a summary"),
    "ui": ("pipelines.cli.ui", "the Dagster UI and daemon for a home"),
}
"""Every command: the module that defines it, and its one-line help."""


class Corners(click.Group):
    """Loads a command's module only when that command runs (or its help is asked for)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return getattr(module, name)

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])


@click.group(
    cls=Corners,
    help="Partnership fit-health from events: ingest, project, check, publish, alert.",
    epilog=examples(
        "corners demo --home /tmp/corners-demo",
        "corners sample ./landing --partnerships 50 --days 365 --seed 7",
        "corners ingest --landing ./landing --home ./.corners",
        "corners refresh --as-of 2026-11-30",
    ),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@group_options
@click.pass_context
def cli(ctx: click.Context, home, landing, config, quiet):
    ctx.obj = Common(home, landing, config, quiet)


def _known_errors() -> tuple[type[BaseException], ...]:
    """corners' own error types: a command that met one prints it as one line. They are
    imported here, after the command ran, so a light command stays light."""
    names = {
        "fitmodel.config": ["ConfigError"],
        "fitmodel.registry": ["RegistryError"],
        "fitmodel.rules": ["RuleError"],
        "fitmodel.explain": ["ExplainError"],
        "store.home": ["HomeError"],
        "store.ingest": ["IngestError", "AccountingError"],
        "store.publish": ["PlanError"],
        "store.backtest": ["BacktestError"],
        "store.query": ["QueryError"],
        "pipelines.cli.options": ["CliError"],
        "pipelines.run": ["RefreshBusy"],
        "pipelines.instance": ["InstanceError"],
    }
    found = []
    for module, classes in names.items():
        if module in sys.modules:
            found += [getattr(sys.modules[module], c) for c in classes]
    if "deltalake.exceptions" in sys.modules:  # a table that cannot be read or written
        found.append(sys.modules["deltalake.exceptions"].DeltaError)
    return tuple(found)


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot use{where}: {exc.strerror or exc}"


def _internal(exc: BaseException) -> str:
    """Write the traceback to a file; say what failed and where the file is."""
    import tempfile  # here, not on every command's start
    import traceback
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    with tempfile.NamedTemporaryFile(
        "w", prefix=f"corners-{stamp}-", suffix=".traceback", delete=False
    ) as out:
        traceback.print_exception(exc, file=out)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        f"corners: internal error: {type(exc).__name__}: {first}\n"
        f"corners: the traceback is in {out.name}; please report it"
    )


def main(argv: list[str] | None = None) -> int:
    # Pydantic looks for plugins in every installed package's entry points when corners'
    # configuration classes are defined (16-28 ms of each command's start, under cProfile);
    # corners uses none. Set PYDANTIC_DISABLE_PLUGINS yourself (empty: all plugins) to
    # choose otherwise.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        result = cli.main(args=argv, prog_name="corners", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_FAIL
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("corners: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, _known_errors()):
            print(f"corners: error: {exc}", file=sys.stderr)
        elif isinstance(exc, OSError):
            print(f"corners: error: {_os_error(exc)}", file=sys.stderr)
        else:
            print(_internal(exc), file=sys.stderr)
        return EXIT_FAIL
    return result if isinstance(result, int) else 0


def run() -> None:
    """The `corners` console script: `main`, then leave without tearing Python down.

    A refresh imports thousands of modules (Dagster, Great Expectations, pandas, plotly), and
    Python's teardown of them takes 1–2 s after the work is done. By then everything corners
    wrote is committed and closed; the exit handlers (logging's flush, temporary folders'
    removal) still run. While a thread other than a daemon one is alive, the usual exit waits
    for it instead."""
    code = main()
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
