"""A corners home folder: where each table lives under it (`store.layout`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from store.layout import PLACES


class HomeError(ValueError):
    """A home folder that cannot be used (a file in its place, say)."""


@dataclass(frozen=True)
class Home:
    """The layout of a corners home folder (see `store.layout`)."""

    root: Path

    def path(self, name: str) -> Path:
        """Where the table `name` lives."""
        return PLACES[name].location(self.root)

    def events(self, stream: str) -> Path:
        return self.path(stream)

    @property
    def quarantine(self) -> Path:
        return self.path("quarantine")

    @property
    def registry(self) -> Path:
        return self.path("registry")

    @property
    def ingest_log(self) -> Path:
        return self.path("ingest_log")

    @property
    def staging(self) -> Path:
        return self.root / "_staging"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def tables(self) -> dict[str, Path]:
        """Every table, by the name `corners query` gives it."""
        return {name: place.location(self.root) for name, place in PLACES.items()}

    def check(self) -> Home:
        """Refuse a home path that names a file (a missing folder is created when written)."""
        if self.root.exists() and not self.root.is_dir():
            raise HomeError(f"the home {self.root} is a file, not a folder")
        return self
