"""Read the Elastic Beanstalk configuration the deployed worker uses: `.ebextensions`, the worker
environment's saved configuration and `cron.yaml`.

The local sqsd and the AWS bootstrap read the same files EB reads, so a value changed for the
deployment changes the local stack too. The sqsd options live in the worker's saved configuration
(`.elasticbeanstalk/aula-worker.cfg.yml`): the web environment deploys the same `.ebextensions`,
where worker-only options do not belong. As on EB, a saved configuration wins over `.ebextensions`.
Validation follows the documented option ranges and what the real sqsd (v2.0) rejects in
cron.yaml, so a bad file fails here before it fails a deployment.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

log = logging.getLogger(__name__)

SQSD_NAMESPACE = "aws:elasticbeanstalk:sqsd"
# The list form may omit `namespace`; EB then means environment properties.
DEFAULT_NAMESPACE = "aws:elasticbeanstalk:application:environment"


class ConfigError(ValueError):
    """A configuration file is unreadable or sets an invalid value; the message names file and option."""


@dataclass(frozen=True)
class OptionSetting:
    namespace: str
    option: str
    value: Any
    source: str  # file that set it, for error messages


@dataclass(frozen=True)
class SqsdSettings:
    """`aws:elasticbeanstalk:sqsd` options, defaults as in the EB general options reference."""

    http_path: str = "/"
    mime_type: str = "application/json"
    http_connections: int = 50
    connect_timeout: int = 5
    # The options reference says 299, the worker guide's console text 180; we take the reference.
    inactivity_timeout: int = 299
    visibility_timeout: int = 300
    error_visibility_timeout: int = 2
    retention_period: int = 345600
    max_retries: int = 10


@dataclass(frozen=True)
class _Option:
    field: str
    low: int | None = None  # None: a string option
    high: int | None = None


SQSD_OPTIONS: dict[str, _Option] = {
    "HttpPath": _Option("http_path"),
    "MimeType": _Option("mime_type"),
    "HttpConnections": _Option("http_connections", 1, 100),
    "ConnectTimeout": _Option("connect_timeout", 1, 60),
    "InactivityTimeout": _Option("inactivity_timeout", 1, 36000),
    "VisibilityTimeout": _Option("visibility_timeout", 0, 43200),
    "ErrorVisibilityTimeout": _Option("error_visibility_timeout", 0, 43200),
    "RetentionPeriod": _Option("retention_period", 60, 1209600),
    "MaxRetries": _Option("max_retries", 1, 100),
}
# The worker environment's saved configuration, applied by `eb create/config --cfg aula-worker`.
WORKER_SAVED_CONFIG = Path(".elasticbeanstalk", "aula-worker.cfg.yml")
# Where `eb config save/get` write a downloaded copy; the EB CLI looks there before the committed
# file of the same name (ebcli/operations/saved_configs.py, `resolve_config_location`).
EB_CLI_SAVED_CONFIGS = Path(".elasticbeanstalk", "saved_configs")
# Valid in the namespace but meaningless locally: the local queue URL comes from SQS_QUEUE_URL.
_IGNORED_SQSD_OPTIONS = {"WorkerQueueURL"}


@dataclass(frozen=True)
class CronTask:
    name: str
    url: str
    schedule: str


class _Loader(yaml.SafeLoader):
    """SafeLoader that tolerates CloudFormation short tags (`!Ref`) in other parts of a config file."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _any_tag)


def _read_yaml(path: Path, label: str) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{label}: cannot read: {exc}") from exc


def load_option_settings(root: Path) -> dict[tuple[str, str], OptionSetting]:
    """Merge `option_settings` of every `.ebextensions/*.config`, applied alphabetically like EB."""
    merged: dict[tuple[str, str], OptionSetting] = {}
    for path in sorted(Path(root, ".ebextensions").glob("*.config")):
        label = f".ebextensions/{path.name}"
        document = _read_yaml(path, label)
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ConfigError(f"{label}: top level must be a mapping")
        for setting in _option_settings(document.get("option_settings"), label):
            merged[(setting.namespace, setting.option)] = setting
    return merged


def _option_settings(raw: Any, label: str) -> list[OptionSetting]:
    if raw is None:
        return []
    settings: list[OptionSetting] = []
    if isinstance(raw, dict):  # {namespace: {option: value}}
        for namespace, options in raw.items():
            if not isinstance(options, dict):
                raise ConfigError(f"{label}: option_settings {namespace}: expected a mapping of options")
            settings += [OptionSetting(str(namespace), str(o), v, label) for o, v in options.items()]
        return settings
    if isinstance(raw, list):  # [{namespace, option_name, value}]
        for index, entry in enumerate(raw):
            if not isinstance(entry, dict) or "option_name" not in entry:
                raise ConfigError(f"{label}: option_settings[{index}]: expected a mapping with option_name")
            namespace = str(entry.get("namespace") or DEFAULT_NAMESPACE)
            settings.append(OptionSetting(namespace, str(entry["option_name"]), entry.get("value"), label))
        return settings
    raise ConfigError(f"{label}: option_settings must be a mapping or a list")


def _coerce(option: str, raw: Any, source: str) -> str | int:
    spec = SQSD_OPTIONS[option]
    where = f"{source}: {SQSD_NAMESPACE} {option}"
    if spec.low is None:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"{where}: expected a non-empty string, got {raw!r}")
        if option == "HttpPath" and not raw.startswith("/"):
            raise ConfigError(f"{where}: must start with '/', got {raw!r}")
        return raw.strip()
    # EB passes option values as strings, so "5" and 5 are the same value.
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not re.fullmatch(r"[+-]?\d+", str(raw).strip()):
        raise ConfigError(f"{where}: expected a whole number, got {raw!r}")
    value = int(str(raw).strip())
    if not spec.low <= value <= spec.high:  # type: ignore[operator]
        raise ConfigError(f"{where}: {value} is out of range {spec.low}-{spec.high}")
    return value


def with_overrides(settings: SqsdSettings, overrides: Mapping[str, Any], source: str) -> SqsdSettings:
    """Return `settings` with EB-named options replaced, validated like the files; `source` names the origin."""
    changes: dict[str, Any] = {}
    for option, raw in overrides.items():
        if option not in SQSD_OPTIONS:
            raise ConfigError(f"{source}: unknown {SQSD_NAMESPACE} option {option!r}")
        changes[SQSD_OPTIONS[option].field] = _coerce(option, raw, source)
    return dataclasses.replace(settings, **changes)


def load_saved_config_options(root: Path, relative: Path = WORKER_SAVED_CONFIG) -> dict[tuple[str, str], OptionSetting]:
    """`OptionSettings` of an EB CLI saved configuration (none if the file is absent)."""
    path = Path(root, relative)
    shadow = EB_CLI_SAVED_CONFIGS / relative.name
    if Path(root, shadow).exists():
        # The local stack keeps to the committed file; the EB CLI would not (docs/deploy.md).
        name = relative.name.removesuffix(".cfg.yml")
        log.warning("%s shadows %s: `eb create --cfg %s` and `eb config <env> --cfg %s` would upload that copy, "
                    "not the committed file read here. Move your changes into %s and delete the copy.",
                    shadow.as_posix(), relative.as_posix(), name, name, relative.as_posix())
    if not path.exists():
        return {}
    label = relative.as_posix()
    document = _read_yaml(path, label)
    if not isinstance(document, dict):
        raise ConfigError(f"{label}: top level must be a mapping")
    raw = document.get("OptionSettings")
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{label}: OptionSettings must be a mapping of namespaces")
    return {(s.namespace, s.option): s for s in _option_settings(raw, label)}


def load_sqsd_settings(root: Path) -> SqsdSettings:
    """sqsd settings from `root/.ebextensions` and the worker's saved configuration (which wins,
    as on EB), EB defaults for anything unset."""
    settings = SqsdSettings()
    options = {**load_option_settings(root), **load_saved_config_options(root)}
    for (namespace, option), setting in options.items():
        if namespace != SQSD_NAMESPACE or option in _IGNORED_SQSD_OPTIONS:
            continue
        if option not in SQSD_OPTIONS:
            # EB rejects unknown options at deploy time; a typo should not silently mean the default.
            raise ConfigError(f"{setting.source}: unknown {SQSD_NAMESPACE} option {option!r}")
        settings = with_overrides(settings, {option: setting.value}, setting.source)
    return settings


def load_cron(root: Path) -> list[CronTask]:
    """Periodic tasks from `root/cron.yaml` (none if the file is absent), validated like sqsd v2.0."""
    path = Path(root, "cron.yaml")
    if not path.exists():
        return []
    document = _read_yaml(path, "cron.yaml")
    if not isinstance(document, dict):
        raise ConfigError("cron.yaml: empty or not a mapping")
    if "version" not in document:
        raise ConfigError("cron.yaml: missing 'version'")
    version = document["version"]
    if version != 1 or isinstance(version, bool):
        raise ConfigError(f"cron.yaml: unsupported version {version!r} (only 1 is supported)")
    entries = document.get("cron")
    if not isinstance(entries, list):
        raise ConfigError("cron.yaml: 'cron' must be a list of tasks")
    tasks = [_cron_task(index, entry) for index, entry in enumerate(entries)]
    seen: set[str] = set()
    for task in tasks:
        if task.name in seen:
            raise ConfigError(f"cron.yaml: duplicate task name {task.name!r}")
        seen.add(task.name)
    return tasks


def _cron_task(index: int, entry: Any) -> CronTask:
    where = f"cron.yaml: cron[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with name, url and schedule")
    values: dict[str, str] = {}
    for key in ("name", "url", "schedule"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: missing or empty {key!r}")
        values[key] = value.strip()
    where = f"cron.yaml: task {values['name']!r}"
    if not values["url"].startswith("/"):
        raise ConfigError(f"{where}: url must be a path starting with '/', got {values['url']!r}")
    # sqsd's parser takes the classic five fields; croniter alone would also accept seconds/years.
    if len(values["schedule"].split()) != 5 or not croniter.is_valid(values["schedule"]):
        raise ConfigError(f"{where}: invalid cron schedule {values['schedule']!r} (five fields, UTC)")
    return CronTask(**values)
