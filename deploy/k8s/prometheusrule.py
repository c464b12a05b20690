"""Print the prometheus-operator PrometheusRule that carries deploy/prometheus/alerts.yaml.

alerts.yaml is the one home of Tierline's rules (promtool checks and unit-tests it, and the
compose stack's Prometheus loads it); the PrometheusRule wraps the same groups for clusters that
run prometheus-operator. `make k8s-rules` writes it, and a test fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ALERTS = Path(__file__).resolve().parents[1] / "prometheus" / "alerts.yaml"
HEADER = (
    "# Generated from deploy/prometheus/alerts.yaml by `make k8s-rules`: edit that file instead.\n"
    "# Add the label your Prometheus selects rules by (its ruleSelector) in an overlay.\n"
)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (expressions, descriptions) as literal blocks, as in alerts.yaml."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule object for a Prometheus rule file's content."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "tierline"},
        "spec": {"groups": alerts["groups"]},
    }


def main() -> None:
    """Write the PrometheusRule to stdout."""
    alerts = yaml.safe_load(ALERTS.read_text())
    sys.stdout.write(HEADER)
    yaml.dump(prometheus_rule(alerts), sys.stdout, Dumper=_Dumper, sort_keys=False, width=100)


if __name__ == "__main__":
    main()
