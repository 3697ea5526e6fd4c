"""Reads of the published fit-health table."""

from __future__ import annotations

from datetime import date

import polars as pl

from store import delta
from store.publish import latest_day


def test_the_latest_day_of_a_partnership_is_its_last_row_even_when_it_ended_earlier(home):
    assert latest_day(home, "P1") is None  # no table yet
    rows = pl.DataFrame(
        {
            "partnership_id": ["P1", "P2", "P1", "P2", "P1"],
            "as_of": [date(2024, 1, d) for d in (1, 1, 2, 2, 3)],
            "fit_score": [7.0, 6.0, 7.5, 6.5, 8.0],
        }
    )
    rows.write_delta(str(home.path("fit_health")), delta_write_options={"partition_by": "as_of"})
    assert delta.days(home.path("fit_health")) == [date(2024, 1, d) for d in (1, 2, 3)]
    assert latest_day(home, "P1") == date(2024, 1, 3)  # on the table's last day
    assert latest_day(home, "P2") == date(2024, 1, 2)  # ended before it
    assert latest_day(home, "P9") is None
    # The registry's end is tried first; it may be older or newer than the table.
    registry = {"partnership_id": ["P1", "P2"], "ended_on": [None, date(2024, 1, 2)]}
    pl.DataFrame(registry).write_delta(str(home.path("registry")))
    assert latest_day(home, "P2") == date(2024, 1, 2)
    assert latest_day(home, "P1") == date(2024, 1, 3)
    registry["ended_on"] = [date(2024, 1, 1), date(2024, 1, 1)]  # ended earlier since
    pl.DataFrame(registry).write_delta(str(home.path("registry")), mode="overwrite")
    assert latest_day(home, "P1") == date(2024, 1, 3)
    assert latest_day(home, "P2") == date(2024, 1, 2)
