"""deploy/compose.yaml, as far as it can be checked without a Docker engine: every file it
mounts or builds from exists, every image is pinned, and Prometheus and Grafana find what the
stack gives them. (`make lint-deploy` checks it against the Compose specification's schema.)"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from support.deploy_files import setting_variables
from support.paths import REPO
from tierline_server.config import DEFAULT_METRICS_PORT

DEPLOY = REPO / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def bind_mounts(service: str) -> dict[str, Path]:
    """Container path -> file or directory on the host, of a service's bind mounts."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = DEPLOY / source
    return mounts


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_what_a_service_mounts_and_builds_from_exists(service: str) -> None:
    for target, source in bind_mounts(service).items():
        assert source.exists(), f"{service} mounts {source} at {target}: no such file"
    build = SERVICES[service].get("build")
    if build:
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_image_is_pinned(service: str) -> None:
    image = SERVICES[service]["image"]
    name, _, tag = image.rpartition(":")

    assert name, f"{service}: {image} names no version"
    assert tag != "latest", f"{service}: {image} names no version"


def test_prometheus_scrapes_the_tierline_replicas_as_the_alerts_expect() -> None:
    config_dir = bind_mounts("prometheus")["/etc/prometheus"]
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    assert config["rule_files"] == ["alerts.yaml"]
    assert jobs["tierline"]["dns_sd_configs"] == [
        {"names": ["tierline"], "type": "A", "port": DEFAULT_METRICS_PORT}
    ]
    assert SERVICES["tierline"]["deploy"]["replicas"] == 2


def test_grafana_loads_the_dashboard_from_where_it_is_mounted() -> None:
    mounts = bind_mounts("grafana")
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "tierline.yaml").read_text())
    dashboard_target = next(t for t, s in mounts.items() if s == DEPLOY / "grafana/tierline.json")

    assert [p["options"]["path"] for p in providers["providers"]] == [
        str(PurePosixPath(dashboard_target).parent)
    ]


def test_the_replicas_watch_the_policy_they_mount_from_the_repository() -> None:
    tierline = SERVICES["tierline"]
    environment = tierline["environment"]

    assert set(environment) <= setting_variables()
    assert environment["TIERLINE_WATCH"] == "true"
    policy = bind_mounts("tierline")["/etc/tierline/policy"]
    assert policy.resolve() == (REPO / "rules").resolve()
