"""One HTTP POST of JSON to a sink, within a deadline, never following a redirect.

`timeout_seconds` bounds the whole request (connect, send, the status line, the headers and
the answer), not each socket read: a sink that trickles its answer a byte at a time is cut
off at the deadline. A 3xx answer is a failed delivery with its status; the request is never
repeated elsewhere, so a sink's headers (credentials) go to the sink's own host only.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_ANSWER = 64 * 1024
"""Bytes of a sink's answer read (and discarded) before the connection is closed."""


@dataclass(frozen=True)
class Answer:
    """A sink's answer to one attempt: `status` is the HTTP status (None: no answer)."""

    ok: bool
    status: int | None = None
    error: str | None = None

    @property
    def retryable(self) -> bool:
        return not self.ok and (
            self.status is None or self.status in (408, 429) or self.status >= 500
        )


class _Reader(io.RawIOBase):
    """Socket reads that each wait only for what is left of the deadline. It reads through
    the socket's own raw file, which keeps the socket open until the answer is read (as
    `socket.makefile` does) even when the connection is closed first."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._raw, self._deadline = sock, sock.makefile("rb", buffering=0), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the sink's answer did not arrive within timeout_seconds")
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Socket:
    """A connected socket whose every send and read counts against one deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline = sock, deadline

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not complete within timeout_seconds")
        return left

    def sendall(self, data) -> None:
        self._sock.settimeout(self._left())
        self._sock.sendall(data)

    def makefile(self, mode: str, *args, **kwargs):
        return io.BufferedReader(_Reader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _connection(url: str, deadline: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    left = max(deadline - time.monotonic(), 0.001)
    base = (
        http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=left, context=ssl.create_default_context()
        )
        if parts.scheme == "https"
        else http.client.HTTPConnection(parts.hostname, parts.port, timeout=left)
    )
    connect = base.connect

    def bounded_connect() -> None:
        connect()
        base.sock = _Socket(base.sock, deadline)

    base.connect = bounded_connect
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return base, target


def post_json(url: str, headers: dict[str, str], body: dict, timeout: float) -> Answer:
    """POST `body` as JSON; never raises: any failure is an `Answer` with its reason."""
    deadline = time.monotonic() + timeout
    connection = None
    try:
        connection, target = _connection(url, deadline)
        payload = json.dumps(body).encode()
        connection.request(
            "POST",
            target,
            body=payload,
            headers={"Content-Type": "application/json", "User-Agent": "corners", **headers},
        )
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        status = response.status
        if 200 <= status < 300:
            return Answer(True, status)
        if 300 <= status < 400:
            return Answer(False, status, f"HTTP {status} redirect: not followed")
        return Answer(False, status, f"HTTP {status} {response.reason}")
    except TimeoutError:
        return Answer(
            False, None, f"timed out: no complete answer within timeout_seconds ({timeout:g} s)"
        )
    except Exception as exc:  # a delivery that cannot be made is a failed delivery
        return Answer(False, None, f"{type(exc).__name__}: {exc}")
    finally:
        if connection is not None:
            connection.close()
