"""The log sink: one line per message to the run log (and the `corners.alerts` logger)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fitmodel.messages import Message
from store.http import Answer
from store.sinks import webhook


def messages(rows: list[dict], as_of: date, digest: bool) -> list[Message]:
    return webhook.messages(rows, as_of, digest)  # only their text is written


def writer(name: str, log: Callable[[str], None]) -> Callable[[Message], Answer]:
    def write(message: Message) -> Answer:
        for text in message.text.splitlines():
            log(f"alert [{name}] {text}")
        return Answer(True)

    return write
