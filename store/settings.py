"""The configuration file: read from disk (and `${NAME}` from the environment), validated by
`fitmodel.config`."""

from __future__ import annotations

import os
from pathlib import Path

from fitmodel.config import DEFAULT_CRON, ConfigError, CornersConfig, parse_config

CONFIG_ENV = "CORNERS_CONFIG"


def _parse_yaml(text: str, file: Path):
    """YAML's safe load, refusing a key given twice in one mapping (YAML would keep the last
    silently). PyYAML is imported here, when a file is read, not on every command's start
    (15-24 ms of it)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key!r} twice",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {file} is not valid YAML: {exc}") from None


def config_path(path: str | Path | None = None) -> str | None:
    """`path`, else `$CORNERS_CONFIG`, else None (the defaults)."""
    return str(path) if path else os.environ.get(CONFIG_ENV) or None


def load_config(path: str | Path | None = None) -> CornersConfig:
    """Load `path`, else `$CORNERS_CONFIG`, else the defaults."""
    chosen = config_path(path)
    if not chosen:
        return CornersConfig()
    file = Path(chosen)
    if not file.is_file():
        raise ConfigError(f"configuration file not found: {file}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"configuration file {file} is not UTF-8 text (byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"configuration file {file} cannot be read: {exc.strerror}") from None
    config = parse_config(_parse_yaml(text, file), str(file), os.environ)
    check_cron(config, str(file))
    return config


def check_cron(config: CornersConfig, source: str) -> None:
    """Refuse a cron Dagster would refuse when the code location loads (Dagster's check is
    imported only for a cron of one's own)."""
    cron = config.schedule.cron
    if cron == DEFAULT_CRON:
        return
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(cron):
        raise ConfigError(
            f"invalid configuration in {source}:\n  schedule.cron: {cron!r} is not a cron "
            "schedule Dagster accepts (five fields, e.g. '0 2 * * *')"
        )
