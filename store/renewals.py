"""The renewal gates and the validation of the fit score (SPEC §10), written–audited–published
after each fit-health publication and its alerts.

`compute` reads the published fit-health rows the gates need (G and G − h), the governance
events and the alerts, through the publication's as_of; `write_candidates` writes the two
candidate tables; checks audit them; `publish` copies them to `<home>/published/`. Every
commit records the fit-health version and as_of it reflects (`corners.fit_health_version`,
`corners.as_of`), so `validation_at` finds the table a refresh of any day published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from deltalake import CommitProperties, DeltaTable

from fitmodel.config import CornersConfig
from fitmodel.governance import decisions, last_gate
from fitmodel.validation import days_needed, gates, renewal_gates, validation
from store import delta
from store.alerts import read_alerts
from store.home import Home
from store.publish import last_publication

VERSION_KEY, AS_OF_KEY = "corners.fit_health_version", "corners.as_of"


@dataclass(frozen=True)
class Renewals:
    gates: pl.DataFrame
    validation: pl.DataFrame
    as_of: date
    version: int
    """The fit-health version they reflect."""


def compute(home: Home, config: CornersConfig) -> Renewals:
    """The gates and the validation of the last publication, from the published tables."""
    version, plan = last_publication(home)
    return compute_from(
        registry=delta.scan_table(home, "registry"),
        governance=delta.scan_table(home, "governance"),
        fit_health=delta.scan_table(home, "fit_health"),
        alerts=read_alerts(home),
        as_of=plan.as_of,
        config=config,
        version=version,
    )


def compute_from(
    *,
    registry: pl.LazyFrame,
    governance: pl.LazyFrame,
    fit_health: pl.LazyFrame,
    alerts: pl.DataFrame,
    as_of: date,
    config: CornersConfig,
    version: int = -1,
) -> Renewals:
    """The same from any tables (a backtest's own)."""
    horizons = config.validation.horizons_days
    gate_rows = gates(registry, as_of, config.model.windows.renewal_months).collect()
    needed = days_needed(gate_rows, horizons)
    days = needed["as_of"].unique().sort()
    fit_rows = (
        fit_health.filter(pl.col("as_of").is_in(days.implode()))
        .select("partnership_id", "as_of", "fit_score", "band")
        .join(needed.lazy(), on=["partnership_id", "as_of"], how="semi")
        .collect()
    )
    table = renewal_gates(gate_rows, decisions(governance, as_of), fit_rows, horizons)
    return Renewals(table, validation(table, alerts, horizons, as_of), as_of, version)


def _commit(renewals: Renewals) -> CommitProperties:
    return CommitProperties(
        custom_metadata={
            VERSION_KEY: str(renewals.version),
            AS_OF_KEY: renewals.as_of.isoformat(),
        }
    )


def _write(path, frame: pl.DataFrame, renewals: Renewals) -> None:
    delta.replace(path, frame, _commit(renewals))


def write_candidates(home: Home, renewals: Renewals) -> None:
    _write(home.path("renewal_gates_candidate"), renewals.gates, renewals)
    _write(home.path("validation_candidate"), renewals.validation, renewals)


def read_candidates(home: Home) -> Renewals:
    path = home.path("validation_candidate")
    entry = DeltaTable(str(path)).history(1)[0]
    return Renewals(
        pl.read_delta(str(home.path("renewal_gates_candidate"))),
        pl.read_delta(str(path)),
        date.fromisoformat(entry[AS_OF_KEY]),
        int(entry[VERSION_KEY]),
    )


def publish(home: Home, renewals: Renewals) -> None:
    """Replace the published gates, then the validation (each one commit)."""
    _write(home.path("renewal_gates"), renewals.gates, renewals)
    _write(home.path("validation"), renewals.validation, renewals)


def validation_at(home: Home, as_of: date | None = None) -> pl.DataFrame | None:
    """The validation table of the last publication, or of the publication whose as_of was
    `as_of` (its latest, from the table's history); None when there is none."""
    path = home.path("validation")
    if not delta.exists(path):
        return None
    if as_of is None:
        return pl.read_delta(str(path))
    for entry in DeltaTable(str(path)).history():
        if entry.get(AS_OF_KEY) == as_of.isoformat():
            return pl.read_delta(str(path), version=entry["version"])
    return None


def decisions_for_no_gate(home: Home, config: CornersConfig) -> pl.DataFrame:
    """Stored renewal decisions whose `gate_on` is not a gate of their partnership: valid
    events that count for no gate (`fitmodel.governance.last_gate` of the day itself is
    the day only for a gate)."""
    months = config.model.windows.renewal_months
    registry = delta.scan_table(home, "registry").select("partnership_id", "started_on")
    return (
        delta.scan_table(home, "governance")
        .filter(pl.col("event_type") == "renewal_decision")
        .select("event_id", "partnership_id", "gate_on", "side", "decision", "occurred_at")
        .join(registry, on="partnership_id", how="left")
        .filter(last_gate(months, pl.col("gate_on")).ne_missing(pl.col("gate_on")))
        .drop("started_on")
        .sort("partnership_id", "gate_on", "event_id")
        .collect()
    )
