"""The corners configuration: one validated model, loaded once and passed in.

Every key is optional; the defaults are those of SPEC.md. An unknown key or a bad value raises
`ConfigError` naming the key's dotted path and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fitmodel.columns import COMPONENTS, fit_health_schema
from fitmodel.rules import compile_rule

Days = Annotated[int, Field(ge=1, le=3650)]


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class IngestConfig(_Strict):
    """How landing files become events."""

    default_timezone: str | None = None
    """Time zone given to timestamps without an offset; unset quarantines them."""
    future_tolerance_days: float = Field(1.0, ge=0, le=3650)
    """An event more than this many days after ingestion is `future_timestamp`."""
    max_file_mb: float = Field(256.0, gt=0, le=1e6)
    """The largest landing file read, in megabytes uncompressed: a larger one (a `.jsonl.gz`
    that expands past it included) is refused, naming it, before it is held in memory."""
    batch_mb: float = Field(64.0, gt=0, le=1e6)
    """Landing megabytes validated and committed together: larger batches are faster, smaller
    ones hold less in memory (an ingest holds about 28 times this at its peak)."""

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Component(_Strict):
    """One fit-score component: x is scored 100 at `good`, 0 at `bad`, linear between."""

    bad: float
    good: float
    weight: float = Field(ge=0)

    @model_validator(mode="after")
    def _distinct_anchors(self) -> Component:
        if self.bad == self.good:
            raise ValueError("bad and good must differ")
        return self


class Components(_Strict):
    """The six components in SPEC order (the order breaks ties between drivers)."""

    survey: Component = Component(bad=1, good=10, weight=0.40)
    collaboration: Component = Component(bad=0, good=6, weight=0.20)
    responsiveness: Component = Component(bad=30, good=2, weight=0.15)
    engagement: Component = Component(bad=0, good=5, weight=0.10)
    innovation: Component = Component(bad=0, good=6, weight=0.10)
    balance: Component = Component(bad=0.5, good=1.0, weight=0.05)


class Windows(_Strict):
    """Trailing windows in days ("trailing N days at d" = event dates in [d-N+1, d])."""

    unscheduled_comms_days: Days = 28
    activity_days: Days = 90
    survey_days: Days = 120
    trend_days: Days = 30
    renewal_months: Annotated[int, Field(ge=1, le=120)] = 6


class Bands(_Strict):
    """Lower bounds of the fit-score bands; below `watch` is `at_risk`."""

    healthy: float = 70
    watch: float = 50

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if self.watch > self.healthy:
            raise ValueError("watch must not exceed healthy")
        return self


class ModelConfig(_Strict):
    """Windows, anchors, weights and thresholds of the fit model (SPEC §4–§5)."""

    windows: Windows = Windows()
    components: Components = Components()
    bands: Bands = Bands()
    min_weight: float = Field(0.5, gt=0)
    """A fit score needs at least this much non-null component weight (above 0: a score over
    no component at all would be 0 ÷ 0)."""
    corner_threshold: float = 7
    """A corner mean below this sets `corner_below_7`."""
    ratio_threshold: float = 3
    """A problem-solving to escalation ratio below this sets `ratio_below_3`."""
    recent_survey_days: Days = 90
    """`data_confidence` is `high` only with a survey response this recent (trailing days)."""

    @model_validator(mode="after")
    def _a_score_is_possible(self) -> ModelConfig:
        total = sum(getattr(self.components, name).weight for name in COMPONENTS)
        if total <= 0:
            raise ValueError("every component weight is 0: no fit score could be computed")
        if self.min_weight > total:
            raise ValueError(
                f"min_weight {self.min_weight:g} exceeds the sum of the weights {total:g}: no "
                "fit score could be computed"
            )
        return self


DEFAULT_CRON = "0 2 * * *"


class ScheduleConfig(_Strict):
    """When the nightly refresh runs (the cron is checked by Dagster's own rules when the
    file loads, `store.settings`)."""

    cron: str = DEFAULT_CRON
    timezone: str = "UTC"
    sensor_interval_seconds: int = Field(60, ge=1, le=86_400)
    """How often the landing sensor looks for new files (at least; the daemon's own loop
    takes about 5 s)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class AlertRule(_Strict):
    """A SQL boolean expression over fit_health columns, how severe it is, and for how many
    consecutive days it must hold before the rule does (`for_days`, like Prometheus' `for:`)."""

    when: str = Field(min_length=1, max_length=4000)
    severity: Literal["warning", "critical"] = "warning"
    for_days: Days = 1


DEFAULT_RULES = {
    "score_drop": AlertRule(when="score_change_30d <= -10", severity="warning"),
    "score_collapse": AlertRule(when="score_change_30d <= -20", severity="critical"),
    "at_risk": AlertRule(when="band = 'at_risk'", severity="critical"),
    "ratio_below_3": AlertRule(when="ratio_below_3", severity="warning"),
    "corner_below_7": AlertRule(when="corner_below_7", severity="warning"),
    "gone_quiet": AlertRule(when="days_since_last_event >= 30", severity="warning"),
    "diagnostic_below_7": AlertRule(when="diagnostic_below_7", severity="warning"),
    "renewal_unconfirmed": AlertRule(
        when="last_gate_outcome = 'unconfirmed' AND days_since_last_gate >= 14",
        severity="warning",
    ),
    "exit_review": AlertRule(when="band = 'at_risk'", severity="critical", for_days=60),
}
"""SPEC §7's default rules (`exit_review` is the exit criterion: at risk for 60 days)."""


Severity = Literal["warning", "critical"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """`${NAME}` in a sink URL or header becomes that variable of `environ` (secrets stay out
    of the file); an unset variable is an error. Returns the text and the values put in."""
    found: list[str] = []

    def lookup(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ:
            raise ValueError(f"environment variable {name} is not set")
        found.append(environ[name])
        return environ[name]

    return _ENV_REF.sub(lookup, value), tuple(found)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP header name (RFC 9110 token)."""


def _url_problem(url: str) -> str | None:
    if _CONTROL.search(url) or re.search(r"\s", url):
        return "contains whitespace or a control character"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL with a host"
    return None


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    """The environment `${NAME}` is checked against: `parse_config`'s `environ`."""
    return (info.context or {}).get("environ", {})


@dataclass(frozen=True)
class Resolved:
    """A sink's URL and headers with `${NAME}` expanded, and the values expanded (to keep out
    of every message and log)."""

    url: str
    headers: dict[str, str]
    secrets: tuple[str, ...]

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
        return text


class WebhookSink(_Strict):
    """An HTTP POST of JSON per message: `webhook` sends corners' own JSON with an
    `Idempotency-Key` header, `slack` a Slack incoming-webhook payload (`text` and `blocks`).

    `url` and `headers` are kept as written; `${NAME}` is expanded when a message is sent
    (`resolved`). Loading checks that every variable is set and that the expanded URL and
    header values are well formed, naming the key but never an expanded value."""

    kind: Literal["webhook", "slack"]
    url: str
    headers: dict[str, str] = {}
    timeout_seconds: float = Field(10, gt=0, le=600)
    """A deadline for the whole request: connecting, sending and the whole answer."""
    min_severity: Severity = "warning"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        expanded, secrets = _expand_env(value, _environ(info))
        problem = _url_problem(expanded)
        if problem:
            shown = value if not secrets else f"{value} (with its variables expanded)"
            raise ValueError(f"{shown}: {problem}")
        return value

    @field_validator("headers")
    @classmethod
    def _header_values(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"header name {name!r} is not an HTTP token")
            expanded, _ = _expand_env(text, _environ(info))
            if _CONTROL.search(expanded):
                raise ValueError(
                    f"header {name}: its value contains a line break or a control character"
                )
        return value

    def resolved(self, environ: Mapping[str, str]) -> Resolved:
        """The URL and headers with `${NAME}` taken from `environ` (the process's
        environment when a message is sent)."""
        url, secrets = _expand_env(self.url, environ)
        headers, found = {}, list(secrets)
        for name, text in self.headers.items():
            headers[name], more = _expand_env(text, environ)
            found += more
        return Resolved(url, headers, tuple(found))


class LogSink(_Strict):
    """One log line per message (the Dagster run log and the `corners.alerts` logger)."""

    kind: Literal["log"]
    min_severity: Severity = "warning"


Sink = Annotated[WebhookSink | LogSink, Field(discriminator="kind")]


class DeliveryConfig(_Strict):
    """Retries within one refresh: `attempts` tries per message, waiting `backoff_seconds`
    doubled after each failure (at most `max_backoff_seconds`). Messages still undelivered
    are tried again on the next refresh."""

    attempts: int = Field(4, ge=1, le=20)
    backoff_seconds: float = Field(0.5, ge=0)
    max_backoff_seconds: float = Field(30, ge=0)


class AlertsConfig(_Strict):
    """Alert rules (SPEC §7), each checked by DuckDB against the fit_health columns, and where
    their transitions are sent."""

    rules: dict[str, AlertRule] = DEFAULT_RULES
    sinks: dict[str, Sink] = {"log": LogSink(kind="log")}
    delivery: DeliveryConfig = DeliveryConfig()
    digest: bool = False
    """One message per owner per refresh listing all of that owner's transitions."""

    @model_validator(mode="after")
    def _rules_compile(self) -> AlertsConfig:
        schema = fit_health_schema()
        for name, rule in self.rules.items():
            compile_rule(name, rule.when, schema)
        return self


class ValidationConfig(_Strict):
    """How the fit score is checked against the renewal gates' outcomes (SPEC §10)."""

    horizons_days: Annotated[list[Days], Field(min_length=1, max_length=12)] = [30, 60, 90]
    """How many days before a gate its fit score is read (one validation row each)."""

    @field_validator("horizons_days")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("each horizon once")
        return sorted(value)


class ReportConfig(_Strict):
    """The HTML fit-health report every refresh writes to `<home>/reports/<as_of>.html`."""

    keep: int = Field(90, ge=0)
    """Reports kept, those of the latest days (each is about 5 MB, as plotly.js is inlined);
    0 keeps every one. `corners report --as-of DATE` writes a removed one again."""


class ScaleConfig(_Strict):
    """How a refresh splits its work (README "Shards")."""

    shards: int = Field(1, ge=1, le=1024)
    """Partnerships split into this many shards (by a stable hash of their id); each shard's
    candidate is computed and audited in its own Dagster step. A change forces a rebuild."""
    executor: Literal["in_process", "multiprocess", "k8s", "celery"] = "in_process"
    """The refresh job's executor: one process; a process per step (the shards side by
    side; each step costs about 10 s of start-up here); a Kubernetes pod per step
    (dagster-k8s' `k8s_job_executor`); a Celery task per step (dagster-celery's
    `celery_executor`). The last two need their package installed."""
    max_concurrent: int = Field(2, ge=1, le=256)
    """Steps run at once by the multiprocess and Kubernetes executors."""
    executor_config: dict[str, Any] = Field(default_factory=dict)
    """The Kubernetes or Celery executor's own Dagster configuration (their documentation's
    keys: `job_namespace`, `env_secrets`, … or `broker`, `backend`, …), checked against
    the executor's schema when the definitions load."""

    @model_validator(mode="after")
    def _config_for_its_executor(self) -> ScaleConfig:
        if self.executor_config and self.executor not in ("k8s", "celery"):
            raise ValueError(
                "executor_config is for executor k8s or celery, not " + repr(self.executor)
            )
        return self


class CornersConfig(_Strict):
    """The whole configuration file (`corners.yaml`)."""

    ingest: IngestConfig = IngestConfig()
    model: ModelConfig = ModelConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    validation: ValidationConfig = ValidationConfig()
    report: ReportConfig = ReportConfig()
    scale: ScaleConfig = ScaleConfig()


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"  {path}: {reason}")
    return "\n".join(lines)


def parse_config(
    data: object, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> CornersConfig:
    """Validate a parsed YAML document against the variables `environ` holds (for `${NAME}`
    in sinks); raise `ConfigError` naming every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration in {source}: the top level must be a mapping")
    try:
        return CornersConfig.model_validate(data, context={"environ": environ or {}})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
