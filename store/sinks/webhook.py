"""The generic JSON webhook sink: corners' own JSON, with an `Idempotency-Key` header."""

from __future__ import annotations

import os
from datetime import date

from fitmodel.config import WebhookSink
from fitmodel.messages import Message, digests, line, payload
from store.http import Answer, post_json

SOURCE = "corners"


def messages(rows: list[dict], as_of: date, digest: bool) -> list[Message]:
    if not digest:
        return [
            Message(
                row["key"],
                (row["key"],),
                line(row),
                {"source": SOURCE, "as_of": as_of.isoformat(), **payload(row)},
            )
            for row in rows
        ]
    return [
        Message(
            d.key,
            tuple(r["key"] for r in d.rows),
            d.text,
            {
                "source": SOURCE,
                "kind": "digest",
                "idempotency_key": d.key,
                "owner": d.owner,
                "as_of": as_of.isoformat(),
                "text": d.text,
                "transitions": [payload(r) for r in d.rows],
            },
        )
        for d in digests(rows, as_of)
    ]


def post(sink: WebhookSink, message: Message) -> Answer:
    """POST one message; its errors name no expanded `${NAME}` value."""
    target = sink.resolved(os.environ)
    answer = post_json(
        target.url,
        {"Idempotency-Key": message.key, **target.headers},
        message.body,
        sink.timeout_seconds,
    )
    if answer.error:
        return Answer(answer.ok, answer.status, target.redact(answer.error))
    return answer
