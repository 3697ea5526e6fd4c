"""Fixtures shared by the tests: a fresh home and a landing folder with a registry, each in
the test's own temporary folder."""

from __future__ import annotations

import pytest

from store.home import Home
from tests.helpers import write_registry


@pytest.fixture
def home(tmp_path) -> Home:
    """An empty home (created when first written)."""
    return Home(tmp_path / "home")


@pytest.fixture
def landing(tmp_path):
    """A landing folder holding a registry of P1 and P2, started 2024-01-01."""
    folder = tmp_path / "landing"
    write_registry(folder)
    return folder
