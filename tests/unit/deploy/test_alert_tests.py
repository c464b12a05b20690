"""Every alert of deploy/prometheus/alerts.yaml has a case in alerts.test.yaml where it fires
(`make test` runs them with `promtool test rules`): an alert nobody has seen fire may never."""

from __future__ import annotations

import yaml
from support.deploy_files import ALERTS

ALERT_TESTS = ALERTS.with_name("alerts.test.yaml")


def test_every_alert_fires_in_a_unit_test() -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = {
        rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule
    }
    cases = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }

    assert sorted(alerts - fired) == []
    assert sorted(fired - alerts) == []
