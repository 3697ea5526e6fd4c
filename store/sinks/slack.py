"""The Slack-style sink: an incoming-webhook payload (`text` and `blocks`) per message."""

from __future__ import annotations

from datetime import date

from fitmodel.messages import Message, digests, line
from store.sinks import webhook

_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}
_FINAL = {"resolve": ":white_check_mark:", "withdrawn": ":leftwards_arrow_with_hook:"}


def _body(text: str, lines: list[str]) -> dict:
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in lines],
    }


def _line(row: dict) -> str:
    icon = _FINAL.get(row["transition"]) or _ICON[row["severity"]]
    return f"{icon} {line(row)}"


def messages(rows: list[dict], as_of: date, digest: bool) -> list[Message]:
    if not digest:
        return [
            Message(row["key"], (row["key"],), line(row), _body(line(row), [_line(row)]))
            for row in rows
        ]
    return [
        Message(
            d.key,
            tuple(r["key"] for r in d.rows),
            d.text,
            _body(d.text, [f"*{d.header}*", *(_line(r) for r in d.rows)]),
        )
        for d in digests(rows, as_of)
    ]


post = webhook.post
"""The same POST (with the `Idempotency-Key` header, which Slack ignores)."""
