"""What the tests of deploy/ read: the PromQL of the Grafana dashboard and of the rule file
(each expression with a name that says where it is), and the environment `tierline serve`
understands."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from tierline_server.config import ServerConfig, option_of

from support.paths import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "tierline.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
"""A Grafana variable query: label_values(selector, label)."""


@dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it is written."""

    where: str
    promql: str

    def __str__(self) -> str:
        return self.where


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def dashboard_queries() -> list[Expression]:
    """Every panel target of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        Expression(f"dashboard {panel['title']!r} {target['refId']}", target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def dashboard_variables() -> list[tuple[str, str, str]]:
    """(variable name, selector, label) of each label_values() variable of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match, f"variable {variable['name']}: not a label_values() query"
        found.append((variable["name"], match["selector"], match["label"]))
    return found


def _rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        yield from group["rules"]


def recording_rules() -> list[Expression]:
    """The expression of every recording rule."""
    return [Expression(f"record {r['record']}", r["expr"]) for r in _rules() if "record" in r]


def recorded_series() -> list[str]:
    """The name of every series the recording rules write."""
    return [rule["record"] for rule in _rules() if "record" in rule]


def alerting_rules() -> list[Expression]:
    """The expression of every alert."""
    return [Expression(f"alert {r['alert']}", r["expr"]) for r in _rules() if "alert" in r]


def setting_variables(settings: type[Any] = ServerConfig) -> set[str]:
    """The TIERLINE_* environment variables of every setting of `tierline serve`."""
    found = set()
    for field in dataclasses.fields(settings):
        option = option_of(field)
        if option is None:  # a nested group of settings
            found |= setting_variables(field.default_factory)  # type: ignore[arg-type]
        else:
            found.add(option.env)
    return found
