"""A real HTTP server on 127.0.0.1 that plays a webhook sink and records what it receives."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class Sink:
    """Answers each POST with the next entry of `script`, then `default` once the script is
    used up: an HTTP status; `("sleep", s)` to answer 200 only after `s` seconds;
    `("redirect", url)` to answer 302 to `url`; `("trickle", s)` to send the status line and
    headers at once, then its body a byte every `s` seconds."""

    script: list = field(default_factory=list)
    default: int = 200
    port: int = 0
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    def __post_init__(self):
        sink = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with sink._lock:
                    step = sink.script.pop(0) if sink.script else sink.default
                    sink.received.append(Received(self.path, dict(self.headers), body))
                    # -1: answered too late, after the client gave up (or redirected)
                    sink.answered.append(step if isinstance(step, int) else -1)
                if isinstance(step, tuple) and step[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", step[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if isinstance(step, tuple) and step[0] == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        for _ in range(100):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(step[1])
                    return
                if isinstance(step, tuple):
                    time.sleep(step[1])
                    step = 200
                self.send_response(step)
                self.send_header("Content-Length", "2")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def keys(self) -> list[str]:
        """Idempotency keys of the requests answered 2xx, in order."""
        return [
            r.headers["Idempotency-Key"]
            for r, code in zip(self.received, self.answered, strict=False)
            if 200 <= code < 300
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def free_port() -> int:
    """A port nothing listens on (a sink that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
