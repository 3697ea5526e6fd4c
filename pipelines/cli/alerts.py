"""`corners alerts`: list, acknowledge and snooze alert episodes."""

from __future__ import annotations

import getpass
from datetime import date

import click
import polars as pl

from pipelines.cli.options import DAY, App, CliError, command_options, count_option, examples
from store import alerts as table
from store import delta


def _require_table(app: App) -> None:
    if not delta.exists(app.home.path("alerts")):
        raise CliError(f"no alerts table yet in {app.home.root}: run corners refresh first")


def _alert(app: App, alert_id: str) -> dict:
    _require_table(app)
    found = table.one(app.home, alert_id)
    if found is None:
        raise CliError(f"no alert {alert_id!r} in the alerts table (see corners alerts)")
    return found


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@click.group(
    invoke_without_command=True,
    epilog=examples(
        "corners alerts --open",
        "corners alerts --owner ana.silva",
        "corners alerts ack P00007:at_risk:2026-11-20 --reason 'call booked'",
        "corners alerts snooze P00007:gone_quiet:2026-11-02 --until 2026-12-01",
    ),
)
@click.option("--open", "open_only", is_flag=True, help="only open episodes")
@click.option("--owner", help="only this owner's partnerships")
@count_option("--limit", 1, 1_000_000, 50)
@command_options
def alerts(app: App, open_only: bool, owner: str | None, limit: int):
    """List alert episodes from <home>/published/alerts, newest first: each rule's runs of
    consecutive days per partnership, open or resolved, with owner, acknowledgement, snooze and a
    one-line explanation. `ack` and `snooze` record an action (append-only, in
    <home>/alert_actions) that the next refresh's notifications honour."""
    ctx = click.get_current_context()
    if ctx.invoked_subcommand:
        return
    _require_table(app)
    shown = table.listing(app.home, open_only=open_only, owner=owner)
    with pl.Config(
        tbl_rows=limit,
        tbl_cols=-1,
        fmt_str_lengths=90,
        tbl_hide_dataframe_shape=True,
        tbl_width_chars=240,
    ):
        click.echo(shown.drop("partnership_id", "last_seen_on").head(limit))
    click.echo(f"{shown.height:,} alert(s)" + (f", {limit} shown" if shown.height > limit else ""))


@alerts.command(
    epilog=examples("corners alerts ack P00007:at_risk:2026-11-20 --reason 'call booked'"),
)
@click.argument("alert_id")
@click.option("--reason", help="free text kept with the action")
@click.option("--by", default=None, help="who acts (default: the login name)")
@command_options
def ack(app: App, alert_id: str, reason: str | None, by: str | None):
    """Acknowledge an alert: an opening not yet delivered is dropped, and so nothing about the
    episode is sent later (no resolve of an opening never sent)."""
    alert = _alert(app, alert_id)
    actor = by or _who()
    table.record_action(app.home, alert, "ack", actor, reason=reason)
    click.echo(f"acknowledged {alert['alert_id']} ({alert['status']}) as {actor}")


@alerts.command(
    epilog=examples("corners alerts snooze P00007:gone_quiet:2026-11-02 --until 2026-12-01"),
)
@click.argument("alert_id")
@click.option("--until", type=DAY, required=True, help="last snoozed day (YYYY-MM-DD)")
@click.option("--reason", help="free text kept with the action")
@click.option("--by", default=None, help="who acts (default: the login name)")
@command_options
def snooze(app: App, alert_id: str, until: date, reason: str | None, by: str | None):
    """Snooze an alert through --until (inclusive, in fit-health days): its partnership's
    transitions of the same or lower severity are held, and sent when the snooze ends; a more
    severe transition is sent at once."""
    alert = _alert(app, alert_id)
    if until < alert["last_seen_on"]:
        raise CliError(
            f"--until {until} is before the alert's last day {alert['last_seen_on']}: the "
            "snooze would have no effect"
        )
    table.record_action(app.home, alert, "snooze", by or _who(), until=until, reason=reason)
    click.echo(
        f"snoozed {alert['alert_id']} through {until}: no {alert['severity']} or lower "
        f"notifications for {alert['partnership_id']} until then"
    )
