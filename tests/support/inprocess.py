"""A Tierline server inside the test process: grpc.aio on port 0 (the kernel picks a free port,
so nothing can take it between choosing and binding), its event loop on a thread of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry
from tierline_server.config import AuthSettings, RedisSettings, ServerConfig
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.server import TierlineServer

from support.paths import DEFAULT_POLICY_DIR

START_TIMEOUT_SECONDS = 30.0


@dataclasses.dataclass
class InProcessServer:
    """A started server: where to reach it, and its own metrics registry."""

    target: str
    metrics: Metrics
    server: TierlineServer

    def sample(self, name: str, **labels: str) -> float:
        """A metric sample's value (0 when it has none)."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@contextmanager
def inprocess_server(redis_url: str, **overrides: Any) -> Iterator[InProcessServer]:
    """Serve the default policy (or ``policy_path=``) on 127.0.0.1:0, without authentication
    (or ``auth=``), until the block ends."""
    config = ServerConfig(
        listen="127.0.0.1:0",
        policy_path=str(DEFAULT_POLICY_DIR),
        auth=AuthSettings(insecure_no_auth=True),
        redis=RedisSettings(url=redis_url, timeout_seconds=1.0),
    )
    config = dataclasses.replace(config, **overrides)
    metrics = Metrics(CollectorRegistry())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tierline-test-server", daemon=True)
    thread.start()

    async def start() -> TierlineServer:
        server = TierlineServer(config, metrics, Decider(load_policy(config.policy_path)))
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(START_TIMEOUT_SECONDS)
    try:
        yield InProcessServer(f"127.0.0.1:{server.port}", metrics, server)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
