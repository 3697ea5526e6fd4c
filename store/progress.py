"""Progress lines for long work: shown on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Rewrites one status line on stderr, at most a few times a second."""

    def __init__(self, label: str, *, enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.2):
            return
        self._last = now
        self._shown = True
        self.stream.write(f"\r\033[K{self.label}: {text}")
        self.stream.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def done(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
