"""What every command takes, before or after its name: `--home`, `--landing`, `--config`,
`--quiet` (given on both sides, the one after wins), and the value types of dates and counts."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click

from fitmodel.domain import EARLIEST_DAY, LATEST_DAY

EXIT_OK, EXIT_INPUT, EXIT_FAIL = 0, 1, 2


class CliError(RuntimeError):
    """A command that cannot do its job; printed without a traceback (exit 2)."""


@dataclass
class Common:
    home: str | None = None
    landing: str | None = None
    config: str | None = None
    quiet: bool = False


@dataclass(frozen=True)
class App:
    """The resolved common options of one invocation."""

    home_dir: Path
    landing_dir: Path
    config_file: str | None
    quiet: bool

    @functools.cached_property
    def home(self):
        from store.home import Home

        return Home(self.home_dir).check()

    @functools.cached_property
    def config(self):
        from store.settings import load_config

        return load_config(self.config_file)

    def fit_health(self) -> Path:
        """The published fit_health table's folder; a `CliError` before the first refresh."""
        from store import delta

        path = self.home.path("fit_health")
        if not delta.exists(path):
            raise CliError(
                f"no fit_health table yet in {self.home.root}: run corners refresh first"
            )
        return path

    @property
    def progress(self) -> bool | None:
        """Progress lines: on a terminal, unless --quiet."""
        return False if self.quiet else None


def _options(default, with_config: bool = True):
    def decorate(func):
        options = [
            click.option(
                "--home",
                default=default,
                help="corners home folder (default: $CORNERS_HOME, else ./.corners)",
            ),
            click.option(
                "--landing",
                default=default,
                help="landing folder to ingest (default: <home>/landing)",
            ),
            click.option("--quiet", is_flag=True, default=False, help="no progress output"),
        ]
        if with_config:
            options.insert(
                2,
                click.option(
                    "--config",
                    default=default,
                    help="configuration file (default: $CORNERS_CONFIG, else built-in defaults)",
                ),
            )
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


group_options = _options(None)
"""The common options given before the command's name."""


def command_options(func=None, *, with_config: bool = True):
    """The common options after the command's name; the command receives an `App`. Without
    `with_config` the command's own `--config` means something else (a backtest's
    candidate): the configuration in force comes from before the command or the
    environment."""
    if func is None:
        return functools.partial(command_options, with_config=with_config)

    @_options(None, with_config)
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, home, landing, quiet, **kwargs):
        config = kwargs.pop("config", None) if with_config else None
        before = ctx.find_object(Common) or Common()
        # What a group's command gave is what its subcommands start from.
        ctx.obj = Common(
            home or before.home, landing or before.landing, config or before.config, quiet
        )
        root = home or before.home or os.environ.get("CORNERS_HOME") or ".corners"
        home_dir = Path(root).expanduser().resolve()
        chosen = landing or before.landing
        app = App(
            home_dir=home_dir,
            landing_dir=Path(chosen).expanduser().resolve() if chosen else home_dir / "landing",
            config_file=config or before.config,
            quiet=quiet or before.quiet,
        )
        return func(app, **kwargs)

    return wrapper


class Day(click.ParamType):
    """An ISO date within the days corners keeps."""

    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.fail(f"not an ISO date (YYYY-MM-DD): {value!r}", param, ctx)
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            self.fail(f"{value} is outside {EARLIEST_DAY}..{LATEST_DAY}", param, ctx)
        return day


DAY = Day()


def as_of_option(help: str):
    """`--as-of DATE`: the day a command works on; `help` says what it is and its default."""
    return click.option("--as-of", type=DAY, help=help)


def count_option(name: str, low: int, high: int, default: int, help: str | None = None):
    """A whole number within `low..high`, with its default shown in the help."""
    return click.option(
        name, type=click.IntRange(low, high), default=default, show_default=True, help=help
    )


def format_option(*formats: str):
    """`--format`, one of `formats`, the first by default (the command receives `fmt`)."""
    return click.option(
        "--format", "fmt", type=click.Choice(formats), default=formats[0], show_default=True
    )


def examples(*lines: str) -> str:
    """An epilog of example command lines (Click keeps the lines as written after `\\b`)."""
    return "\b\nexamples:\n" + "\n".join(f"  {line}" for line in lines)
