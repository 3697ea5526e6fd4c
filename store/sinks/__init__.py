"""Where notifications go: one module per sink kind (its messages and how it sends them),
and `deliver`, which sends a sink's messages with retries.

`deliver` retries a message with exponential backoff on a 5xx, 408, 429, a timeout or no
answer; once a message finds the sink unreachable (no answer after every attempt) the rest
wait for the next round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from fitmodel.config import DeliveryConfig, LogSink, WebhookSink
from fitmodel.messages import Message
from store.http import Answer
from store.sinks import log, slack, webhook

KINDS = {"webhook": webhook, "slack": slack, "log": log}


def messages(sink: WebhookSink | LogSink, rows: list[dict], as_of: date, digest: bool):
    return KINDS[sink.kind].messages(rows, as_of, digest)


def attempt_for(
    sink: WebhookSink | LogSink, name: str, write: Callable[[str], None]
) -> Callable[[Message], Answer]:
    if isinstance(sink, LogSink):
        return log.writer(name, write)
    module = KINDS[sink.kind]
    return lambda message: module.post(sink, message)


@dataclass
class Outcome:
    message: Message
    delivered: bool
    attempts: int
    status: int | None
    error: str | None


def deliver(
    batch: list[Message],
    attempt: Callable[[Message], Answer],
    delivery: DeliveryConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Send each message in order (see the module docstring)."""
    outcomes = []
    unreachable: str | None = None
    for message in batch:
        if unreachable:
            outcomes.append(Outcome(message, False, 0, None, f"not tried: {unreachable}"))
            continue
        tries, answer = 0, Answer(False)
        while tries < delivery.attempts:
            tries += 1
            answer = attempt(message)
            if answer.ok or not answer.retryable:
                break
            if tries < delivery.attempts:
                sleep(
                    min(delivery.max_backoff_seconds, delivery.backoff_seconds * 2 ** (tries - 1))
                )
        if not answer.ok and answer.status is None:
            unreachable = f"sink unreachable earlier in this run ({answer.error})"
        outcomes.append(Outcome(message, answer.ok, tries, answer.status, answer.error))
    return outcomes
