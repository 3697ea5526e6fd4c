"""The Dagster resource that tells assets where corners lives and how it is configured."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from fitmodel.config import CornersConfig
from store.home import Home
from store.settings import load_config


class CornersResource(dg.ConfigurableResource):
    """A corners home folder, its landing folder and configuration file."""

    home: str
    landing: str | None = None
    config_path: str | None = None
    _config: CornersConfig | None = PrivateAttr(default=None)

    @cached_property
    def layout(self) -> Home:
        return Home(Path(self.home).resolve())

    @property
    def landing_dir(self) -> Path:
        """`landing`, else `$CORNERS_LANDING` (set by `corners ui --landing`), else
        `<home>/landing`."""
        chosen = self.landing or os.environ.get("CORNERS_LANDING")
        return Path(chosen).resolve() if chosen else self.layout.landing

    @property
    def settings(self) -> CornersConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config
