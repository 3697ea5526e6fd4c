"""Realistic sample landing folders (`corners sample`, `corners demo`).

Each partnership follows one trajectory (healthy, degrading, collapse, recovering, quiet,
escalation_heavy): a daily health h in [0, 1] drives Poisson rates of communications,
meetings and escalations, survey scores and resolution times. Events are delivered in weekly
files per stream, a few days late now and then, some re-sent; `bad_rate` mixes in bad lines
of every quarantine kind. Deterministic for a given seed and end date.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from fitmodel.events import CORNERS, DIMENSIONS, EVENT_TYPES
from fitmodel.validation import gates

TRAJECTORIES = ("healthy", "degrading", "collapse", "recovering", "quiet", "escalation_heavy")
BAD_KINDS = (
    "malformed_json",
    "missing_field",
    "invalid_type",
    "invalid_value",
    "naive_timestamp",
    "future_timestamp",
    "wrong_stream",
    "unknown_partnership",
    "conflicting_duplicate",
    "not_an_object",
)
_INDUSTRIES = ("software", "logistics", "retail", "health", "energy", "finance", "media")
_OWNERS = ("ana.silva", "ben.okafor", "chen.li", "dana.weiss", "emil.novak")
_COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Pied Piper",
    "Massive Dynamic",
)


@dataclass(frozen=True)
class SampleSummary:
    partnerships: int
    events: int
    lines: int
    files: int


def _health(kind: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Daily health for trajectory index `kind` at relative time `t` in [0, 1]."""
    h = np.full(t.shape, 0.85)
    h = np.where(kind == 1, 0.88 - 0.6 * t, h)
    h = np.where(kind == 2, np.where(t < 0.75, 0.85, 0.12), h)
    h = np.where(kind == 3, np.where(t < 0.5, 0.25, 0.25 + 1.2 * (t - 0.5)), h)
    h = np.where(kind == 4, 0.7, h)
    h = np.where(kind == 5, 0.45, h)
    return np.clip(h, 0.02, 0.98)


def registry(n: int, start: date, days: int, rng: np.random.Generator) -> pl.DataFrame:
    ids = [f"P{i:05d}" for i in range(1, n + 1)]
    a = rng.integers(0, len(_COMPANIES), n)
    b = (a + rng.integers(1, len(_COMPANIES), n)) % len(_COMPANIES)
    started = [start + timedelta(days=int(x)) for x in rng.integers(0, max(days // 6, 1), n)]
    ended: list[date | None] = [None] * n
    for i in range(n):
        if i % 10 == 9:
            ended[i] = start + timedelta(days=int(days * 0.8))
    return pl.DataFrame(
        {
            "partnership_id": ids,
            "name": [f"{_COMPANIES[x]} × {_COMPANIES[y]}" for x, y in zip(a, b, strict=True)],
            "partner_a": [_COMPANIES[x] for x in a],
            "partner_b": [_COMPANIES[y] for y in b],
            "industry_a": [_INDUSTRIES[x % len(_INDUSTRIES)] for x in a],
            "industry_b": [_INDUSTRIES[y % len(_INDUSTRIES)] for y in b],
            "owner": [_OWNERS[i % len(_OWNERS)] for i in range(n)],
            "started_on": started,
            "ended_on": ended,
            "trajectory": [TRAJECTORIES[i % len(TRAJECTORIES)] for i in range(n)],
        }
    )


def _grid(reg: pl.DataFrame, start: date, days: int) -> dict[str, np.ndarray]:
    n = reg.height
    p = np.repeat(np.arange(n), days)
    d = np.tile(np.arange(days), n)
    first = (reg["started_on"] - start).dt.total_days().to_numpy()
    last_day = reg["ended_on"].fill_null(start + timedelta(days=days - 1))
    last = (last_day - start).dt.total_days().to_numpy()
    active = (d >= first[p]) & (d <= last[p])
    kind = (np.arange(n) % len(TRAJECTORIES))[p]
    t = d / max(days - 1, 1)
    h = _health(kind, t)
    quiet = (kind == 4) & (t > 0.6)
    return {
        "p": p[active],
        "d": d[active],
        "h": h[active],
        "kind": kind[active],
        "quiet": quiet[active],
    }


def _expand(g: dict[str, np.ndarray], rate: np.ndarray, rng) -> dict[str, np.ndarray]:
    counts = rng.poisson(rate)
    idx = np.repeat(np.arange(len(rate)), counts)
    return {k: v[idx] for k, v in g.items()}


def _times(start: date, day: np.ndarray, rng) -> pl.Series:
    """A UTC instant during working hours of each relative day."""
    seconds = day.astype(np.int64) * 86400 + rng.integers(8 * 3600, 19 * 3600, len(day))
    base = np.datetime64(start.isoformat(), "us")
    return pl.Series(base + (seconds * 1_000_000).astype("timedelta64[us]")).dt.replace_time_zone(
        "UTC"
    )


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """`prefix` followed by 0..n-1 zero-padded to `width` digits."""
    digits = pl.int_range(n, eager=True).cast(pl.String).str.zfill(width)
    return (prefix + digits).alias("id")


def _frame(
    e: dict[str, np.ndarray],
    reg_ids: np.ndarray,
    start: date,
    event_type: str,
    prefix: str,
    rng,
    **fields,
) -> pl.DataFrame:
    n = len(e["p"])
    return pl.DataFrame(
        {
            "event_id": _ids(prefix + "-", n, 9),
            "event_type": [event_type] * n,
            "partnership_id": reg_ids[e["p"]],
            "at": _times(start, e["d"], rng),
            "day": e["d"],
            **fields,
        }
    )


def events(
    reg: pl.DataFrame, start: date, days: int, rng, activity: float = 1.0
) -> dict[str, pl.DataFrame]:
    """All generated events per event type (columns: envelope, fields, `at`, `day`);
    `activity` scales the communication and meeting rates."""
    g = _grid(reg, start, days)
    ids = reg["partnership_id"].to_numpy()
    damp = np.where(g["quiet"], 0.01, 1.0)
    h = g["h"]

    c = _expand(g, (1.2 + 3.5 * h) * damp * activity, rng)
    ch = np.array(["email", "chat", "call", "video", "in_person"])
    comms = _frame(
        c,
        ids,
        start,
        "communication",
        "c",
        rng,
        channel=ch[rng.integers(0, 5, len(c["p"]))],
        scheduled=rng.random(len(c["p"])) < (0.75 - 0.45 * c["h"]),
        initiated_by=np.where(rng.random(len(c["p"])) < 0.5 + 0.45 * (1 - c["h"]), "a", "b"),
    )

    m = _expand(g, 0.45 * damp * activity, rng)
    mk = np.array(["joint_problem_solving", "steering_committee", "check_in", "workshop", "other"])
    ps = rng.random(len(m["p"])) < 0.1 + 0.4 * m["h"]
    meetings = _frame(
        m,
        ids,
        start,
        "meeting",
        "m",
        rng,
        meeting_kind=np.where(ps, mk[0], mk[1:][rng.integers(0, 4, len(m["p"]))]),
        scheduled=rng.random(len(m["p"])) < 0.8,
        duration_minutes=rng.integers(15, 180, len(m["p"])),
        attendees_a=rng.integers(1, 8, len(m["p"])),
        attendees_b=rng.integers(1, 8, len(m["p"])),
        ideas_generated=rng.poisson(2.0 * m["h"]),
    )

    heavy = np.where(g["kind"] == 5, 3.0, 1.0)
    x = _expand(g, (0.02 + 0.2 * (1 - h) ** 2) * heavy * damp, rng)
    k = len(x["p"])
    sev = np.array(["low", "medium", "high", "critical"])
    opened = _frame(
        x,
        ids,
        start,
        "escalation_opened",
        "xo",
        rng,
        escalation_id=_ids("X", k, 8),
        severity=sev[np.minimum(3, rng.integers(0, 3, k) + (rng.random(k) < 1 - x["h"]))],
        corner=np.array(CORNERS)[rng.integers(0, 4, k)],
        raised_by=np.where(rng.random(k) < 0.5, "a", "b"),
    )
    delay = rng.exponential(1.5 + 30 * (1 - x["h"]) ** 2, k)
    resolved_mask = rng.random(k) < 0.92
    r_at = opened["at"] + pl.Series((delay * 86400e6).astype("int64")).cast(pl.Duration("us"))
    resolved = pl.DataFrame(
        {
            "event_id": _ids("xr-", k, 9),
            "event_type": "escalation_resolved",
            "partnership_id": opened["partnership_id"],
            "at": r_at,
            "day": opened["day"] + np.floor(delay + 0.5).astype(np.int64),
            "escalation_id": opened["escalation_id"],
            "resolution": np.where(rng.random(k) < x["h"], "joint", "unilateral"),
        }
    ).filter(pl.Series(resolved_mask) & (pl.col("day") < days))

    # Quarterly surveys: 1–3 respondents per side, scores around 1 + 9h.
    wave = (g["d"] % 91 == 45) & ~g["quiet"]
    s = {k2: v[wave] for k2, v in g.items()}
    reps = rng.integers(2, 7, len(s["p"]))
    s = {k2: np.repeat(v, reps) for k2, v in s.items()}
    n_s = len(s["p"])
    scores = {
        c2: np.clip(np.rint(1 + 9 * s["h"] + rng.normal(0, 1.2, n_s) - 0.5 * j), 1, 10).astype(
            np.int64
        )
        for j, c2 in enumerate(CORNERS)
    }
    surveys = _frame(
        s,
        ids,
        start,
        "survey_response",
        "s",
        rng,
        respondent_side=np.where(np.arange(n_s) % 2 == 0, "a", "b"),
        **scores,
    )
    decisions, diagnostics = governance(
        reg, start, days, np.random.default_rng(rng.integers(2**32))
    )
    return {
        "meeting": meetings,
        "escalation_opened": opened,
        "escalation_resolved": resolved,
        "communication": comms,
        "survey_response": surveys,
        "renewal_decision": decisions,
        "diagnostic_response": diagnostics,
    }


def governance(
    reg: pl.DataFrame, start: date, days: int, rng, months: int = 6
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Renewal decisions at every gate, and diagnostic responses.

    Each side's decision follows the partnership's latent health at the gate (never a computed
    score), with noise: the sicker it is, the likelier a restructure or an exit. The awkward
    cases are there too: a side changing its mind, one side deciding alone, decisions made
    late, a decision for a day that is no gate, and diagnostics below 7."""
    end = start + timedelta(days=days - 1)
    gate_rows = gates(reg.lazy(), end, months).collect()
    kinds = dict(zip(reg["partnership_id"], np.arange(reg.height) % len(TRAJECTORIES), strict=True))
    ids = gate_rows["partnership_id"].to_numpy()
    gate_day = (gate_rows["gate_on"] - start).dt.total_days().to_numpy().astype(np.int64)
    h = _health(np.array([kinds[p] for p in ids], dtype=np.int64), gate_day / max(days - 1, 1))
    n = len(ids)
    rows = []
    for side in ("a", "b"):
        fail = rng.random(n) < np.clip(
            1.15 * (1 - h) ** 1.5 - 0.05 + rng.normal(0, 0.08, n), 0.02, 0.95
        )
        exit_ = rng.random(n) < 0.1 + 0.45 * (1 - h)
        choice = np.where(fail, np.where(exit_, "exit", "restructure"), "reaffirm")
        decides = rng.random(n) < 0.93  # else this side never decides: unconfirmed
        day = gate_day + rng.integers(-10, 16, n)  # before or after the gate; some late
        stray = rng.random(n) < 0.03  # a decision for a day that is no gate
        shift = pl.Series(np.where(stray, 3, 0)).cast(pl.Int64) * 86_400_000_000
        gate_on = gate_rows["gate_on"] + shift.cast(pl.Duration("us"))
        changed = rng.random(n) < 0.08  # an earlier decision, then the one that stands
        first_mind = np.where(choice == "reaffirm", "restructure", "reaffirm")
        for mind, when, keep in ((first_mind, day - rng.integers(3, 9, n), decides & changed),
                                 (choice, day, decides)):  # fmt: skip
            keep = keep & (when <= days - 1)
            rows.append(
                pl.DataFrame(
                    {
                        "p": pl.Series(ids[keep], dtype=pl.String),
                        "day": pl.Series(when[keep], dtype=pl.Int64),
                        "gate_on": gate_on.filter(pl.Series(keep)).dt.strftime("%Y-%m-%d"),
                        "side": pl.Series([side] * int(keep.sum()), dtype=pl.String),
                        "decision": pl.Series(mind[keep], dtype=pl.String),
                    }
                )
            )
    decided = pl.concat(rows).sort("day", "p", "side")
    index = {p: i for i, p in enumerate(reg["partnership_id"])}
    reg_ids = reg["partnership_id"].to_numpy()
    d = {
        "p": np.array([index[p] for p in decided["p"]], dtype=np.int64),
        "d": decided["day"].to_numpy(),
    }
    decisions = _frame(
        d, reg_ids, start, "renewal_decision", "g", rng,
        gate_on=decided["gate_on"], side=decided["side"], decision=decided["decision"],
    )  # fmt: skip

    # Diagnostics: each side soon after the start, and again after each gate.
    first = (reg["started_on"] - start).dt.total_days().to_numpy() + 20
    when = np.concatenate([first, first, gate_day + 5, gate_day + 9]).astype(np.int64)
    who = np.concatenate([np.arange(reg.height), np.arange(reg.height),
                          [index[p] for p in ids], [index[p] for p in ids]]).astype(np.int64)  # fmt: skip
    side = np.array(["a"] * reg.height + ["b"] * reg.height + ["a"] * n + ["b"] * n)
    keep = (when >= 0) & (when <= days - 1) & (rng.random(len(when)) < 0.9)
    when, who, side = when[keep], who[keep], side[keep]
    health = _health(np.arange(reg.height)[who] % len(TRAJECTORIES), when / max(days - 1, 1))
    scores = {
        dim: np.clip(
            np.rint(2.5 + 7 * health + rng.normal(0, 1.3, len(who)) - 0.3 * j), 1, 10
        ).astype(np.int64)
        for j, dim in enumerate(DIMENSIONS)
    }
    diagnostics = _frame(
        {"p": who, "d": when}, reg_ids, start, "diagnostic_response", "dg", rng,
        respondent_side=side, **scores,
    )  # fmt: skip
    return decisions, diagnostics


def _lines(frames: dict[str, pl.DataFrame], rng) -> pl.DataFrame:
    """One JSON line per event with its stream and delivery day (late and re-sent copies)."""
    out = []
    for event_type, frame in frames.items():
        stream, specs = EVENT_TYPES[event_type]
        n = frame.height
        if n == 0:  # a small sample can lack a kind of event altogether
            continue
        offset = rng.random(n) < 0.1
        stamp = (
            pl.when(pl.Series(offset))
            .then(
                pl.col("at").dt.convert_time_zone("Etc/GMT-2").dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            )
            .otherwise(pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        )
        extra = rng.random(n) < 0.01
        fields = [
            "event_id",
            "event_type",
            "partnership_id",
            "occurred_at",
            *[s.name for s in specs],
        ]
        late = np.where(rng.random(n) < 0.03, rng.integers(5, 40, n), rng.integers(0, 2, n))
        body = (
            frame.with_columns(stamp.alias("occurred_at"))
            .select(
                pl.struct(fields).struct.json_encode().alias("line"),
                pl.lit(stream).alias("stream"),
                (pl.col("day") + pl.Series(late)).alias("delivered"),
                "event_id",
            )
            .with_columns(
                pl.when(pl.Series(extra))
                .then(pl.col("line").str.replace(r"\}$", ',"crm_ref":"CRM-7"}'))
                .otherwise(pl.col("line"))
            )
        )
        resent = body.filter(pl.Series(rng.random(n) < 0.01)).with_columns(pl.col("delivered") + 7)
        out += [body, resent]
    return pl.concat(out)


def _spoil(lines: pl.DataFrame, bad_rate: float, rng) -> pl.DataFrame:
    """Turn a `bad_rate` share of lines into bad lines, cycling through every kind."""
    n = lines.height
    chosen = rng.random(n) < bad_rate
    kind = np.where(chosen, np.cumsum(chosen) % len(BAD_KINDS), -1)
    k = pl.Series("kind", kind)
    line = pl.col("line")
    ts = r'("occurred_at":"[^"]*?)(Z|[+-]\d\d:\d\d)"'
    spoiled = lines.with_columns(k).with_columns(
        pl.when(pl.col("kind") == 0)
        .then(line.str.slice(0, line.str.len_chars() // 2))
        .when(pl.col("kind") == 1)
        .then(line.str.replace(r'"event_id":"[^"]*",', ""))
        .when(pl.col("kind") == 2)
        .then(line.str.replace(r'"partnership_id":"[^"]*"', '"partnership_id":42'))
        .when(pl.col("kind") == 3)
        .then(line.str.replace(r'"event_type":"[^"]*"', '"event_type":"bogus"'))
        .when(pl.col("kind") == 4)
        .then(line.str.replace(ts, '$1"'))
        .when(pl.col("kind") == 5)
        .then(line.str.replace(r'"occurred_at":"\d{4}', '"occurred_at":"2999'))
        .when(pl.col("kind") == 7)
        .then(line.str.replace(r'"partnership_id":"[^"]*"', '"partnership_id":"P-UNKNOWN"'))
        .when(pl.col("kind") == 9)
        .then(pl.lit("[1, 2, 3]"))
        .otherwise(line)
        .alias("line"),
        pl.when(pl.col("kind") == 6)
        .then(pl.col("stream").replace_strict({"meetings": "communications"}, default="meetings"))
        .otherwise(pl.col("stream"))
        .alias("stream"),
    )
    conflicts = lines.filter(pl.Series(kind == 8)).with_columns(
        line.str.replace(r"^\{", '{"source":"crm-resend",'), pl.col("delivered") + 3
    )
    return pl.concat([spoiled.drop("kind"), conflicts])


def write_sample(
    out: Path,
    *,
    partnerships: int,
    days: int,
    seed: int,
    bad_rate: float = 0.0,
    end: date | None = None,
) -> SampleSummary:
    """Write a landing folder with `partnerships.csv` and weekly JSONL files per stream."""
    if partnerships < 1 or days < 1:
        raise ValueError("partnerships and days must be at least 1")
    if not 0 <= bad_rate <= 1:
        raise ValueError("bad_rate must be between 0 and 1")
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    start = end - timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    reg = registry(partnerships, start, days, rng)
    frames = events(reg, start, days, rng)
    lines = _lines(frames, rng)
    if bad_rate:
        lines = _spoil(lines, bad_rate, rng)
    lines = (
        lines.with_columns(pl.col("delivered").clip(0, days - 1))
        .with_columns(
            (pl.lit(start) + pl.duration(days=pl.col("delivered"))).alias("delivery_date")
        )
        .sort("delivery_date", "event_id", maintain_order=True)
    )

    out.mkdir(parents=True, exist_ok=True)
    reg.drop("trajectory").write_csv(out / "partnerships.csv")
    weekly = lines.with_columns(
        pl.col("delivery_date").dt.truncate("1w").dt.strftime("%Y-%m-%d").alias("week")
    )
    files = 0
    for (stream, week), part in weekly.group_by("stream", "week", maintain_order=True):
        folder = out / stream / week[:4]
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".jsonl.gz" if stream == "surveys" else ".jsonl"
        text = part["line"].str.join("\n").item() + "\n"
        path = folder / f"{stream}-{week}{suffix}"
        if suffix.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        else:
            path.write_text(text, encoding="utf-8")
        files += 1
    n_events = sum(f.height for f in frames.values())
    return SampleSummary(partnerships, n_events, lines.height, files)
