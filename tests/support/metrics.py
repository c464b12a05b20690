"""Read a running server's /metrics endpoint."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT_SECONDS = 10.0

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]
"""A /metrics scrape: sample value by (sample name, label pairs)."""


def scrape(
    metrics_port: int, tls: ssl.SSLContext | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample on a server's /metrics, by (sample name, labels); over TLS with ``tls``."""
    url = f"{'https' if tls else 'http'}://localhost:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_SECONDS, context=tls) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, /, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value for (sample, found), value in samples.items() if sample == name and wanted <= found
    )
