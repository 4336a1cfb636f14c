"""The deployment files, read the way Elastic Beanstalk reads them, for the tests of this package."""
from __future__ import annotations

import os
import re
import runpy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.ebconfig import DEFAULT_NAMESPACE

ROOT = Path(__file__).resolve().parents[2]
EBEXTENSIONS = ROOT / ".ebextensions"
NGINX_SERVER_CONF = ROOT / ".platform/nginx/conf.d/elasticbeanstalk/01-proxy.conf"
INFRA_TEMPLATE = ROOT / "infra/aula-ops.yaml"
TIERS = ("web", "worker")
SAVED_CONFIGS = {tier: ROOT / f".elasticbeanstalk/aula-{tier}.cfg.yml" for tier in TIERS}


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short tags (`!Ref x`) as their values: .ebextensions
    may use them, and what is checked here never depends on what they resolve to."""


_Loader.add_multi_constructor("!", lambda loader, _suffix, node: (
    loader.construct_mapping(node) if isinstance(node, yaml.MappingNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_scalar(node)))


def read_yaml(path: Path) -> Any:
    # EB accepts YAML or JSON; JSON is YAML.
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def ebextensions() -> dict[str, dict]:
    """Every .ebextensions/*.config, by file name, in the order EB applies them."""
    return {path.name: read_yaml(path) or {} for path in sorted(EBEXTENSIONS.glob("*.config"))}


def ebextension_options() -> dict[tuple[str, str], Any]:
    """option_settings of all .ebextensions files merged (a later file wins), both forms."""
    merged: dict[tuple[str, str], Any] = {}
    for document in ebextensions().values():
        raw = document.get("option_settings") or {}
        if isinstance(raw, dict):
            for namespace, options in raw.items():
                merged.update({(namespace, option): value for option, value in options.items()})
        else:
            for entry in raw:
                merged[(entry.get("namespace") or DEFAULT_NAMESPACE, entry["option_name"])] = entry.get("value")
    return merged


def saved_config(tier: str) -> dict:
    return read_yaml(SAVED_CONFIGS[tier])


def saved_options(tier: str) -> dict[tuple[str, str], Any]:
    return {(namespace, option): value
            for namespace, options in (saved_config(tier).get("OptionSettings") or {}).items()
            for option, value in options.items()}


def tier_options(tier: str) -> dict[tuple[str, str], Any]:
    """What an environment of `tier` gets from the repository: the saved configuration wins."""
    return {**ebextension_options(), **saved_options(tier)}


def environment_properties(tier: str) -> dict[str, str]:
    return {option: str(value) for (namespace, option), value in tier_options(tier).items() if namespace == DEFAULT_NAMESPACE}


@contextmanager
def replaced_environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


GUNICORN_VARIABLES = ("APP_ROLE", "PORT", "GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
                      "GUNICORN_GRACEFUL_TIMEOUT")


def gunicorn_settings(tier: str) -> dict[str, Any]:
    """gunicorn.conf.py evaluated with exactly the environment properties that tier deploys with
    (and nothing from the shell running the tests)."""
    env = {k: v for k, v in os.environ.items() if k not in GUNICORN_VARIABLES} | environment_properties(tier)
    with replaced_environment(env):
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


# --- nginx ------------------------------------------------------------------------------------

@dataclass
class Block:
    """A context of an nginx configuration: its simple directives and its nested blocks."""

    directives: list[tuple[str, list[str]]] = field(default_factory=list)
    blocks: list[tuple[str, list[str], Block]] = field(default_factory=list)

    def values(self, name: str) -> list[list[str]]:
        return [args for directive, args in self.directives if directive == name]

    def seconds(self, name: str) -> int:
        (args,) = self.values(name)  # exactly once in this context
        return nginx_seconds(args[0])

    def block(self, name: str, *args: str) -> Block:
        (found,) = [b for n, a, b in self.blocks if n == name and list(a) == list(args)]
        return found


TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{};]|[^\s{};]+')


def parse_nginx(text: str) -> Block:
    """A small parser for the nginx syntax our files use (no includes, no Lua)."""
    text = re.sub(r"(?m)#.*$", "", text)
    stack, words = [Block()], []
    for token in TOKEN.findall(text):
        if token == ";":
            stack[-1].directives.append((words[0], words[1:]))
            words = []
        elif token == "{":
            child = Block()
            stack[-1].blocks.append((words[0], words[1:], child))
            stack.append(child)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token.strip("\"'"))
    assert len(stack) == 1 and not words, "unbalanced nginx configuration"
    return stack[0]


def nginx_seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, f"not an nginx time: {value}"
    number, unit = int(match.group(1)), match.group(2) or "s"
    return {"ms": number // 1000, "s": number, "m": number * 60, "h": number * 3600}[unit]


def nginx_server_context() -> Block:
    return parse_nginx(NGINX_SERVER_CONF.read_text(encoding="utf-8"))


def platform_keepalive_seconds() -> int:
    """keepalive_timeout of the platform's default server, from our copy of its nginx.conf."""
    from tests.deploy.platform_nginx import NGINX_CONF

    return parse_nginx(NGINX_CONF).block("http").block("server").seconds("keepalive_timeout")


# --- CloudFormation -----------------------------------------------------------------------------

def cloudformation_template(path: Path = INFRA_TEMPLATE) -> dict:
    """The template as CloudFormation reads it (short tags such as !Ref become {"Ref": ...})."""
    from cfnlint.decode import decode_str

    template, matches = decode_str(path.read_text(encoding="utf-8"))
    assert not matches, [str(m) for m in matches]
    return template


def cfn_lint(template: str | dict) -> list[str]:
    """cfn-lint's findings (errors and warnings) for a template, as text."""
    import json

    from cfnlint.api import ManualArgs, lint

    body = template if isinstance(template, str) else json.dumps(template)
    return [str(match) for match in lint(body, config=ManualArgs(regions=["us-east-1"]))]
