"""The crash-test hook: a process killed at a named point, to prove recovery (tests only)."""

from __future__ import annotations

import os
import signal

CRASH_ENV = "CORNERS_CRASH_AT"

_reached: dict[str, int] = {}


def crashpoint(name: str) -> None:
    """Test hook: SIGKILL this process at the named point when `CORNERS_CRASH_AT` names it
    (`point` for its first occurrence, `point#n` for its n-th, as in a later batch)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted or not wanted.startswith(name):
        return
    _reached[name] = _reached.get(name, 0) + 1
    if wanted in (name, f"{name}#{_reached[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)
