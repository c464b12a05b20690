"""The policy being served, and its atomic replacement on reload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.errors import PolicyError, PolicyInvalid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: the policy now served, and the errors if the candidate was rejected."""

    reloaded: bool
    policy: Policy
    errors: tuple[PolicyError, ...] = ()


class ServedPolicy:
    """Holds the Decider in use. A reload compiles first and swaps only on success.

    Requests read ``decider`` once and keep it for the whole decision, so a swap never mixes two
    policies in one answer. durable-rules cannot drop a ruleset, so each reload registers a new
    one; the old one stays unused (a few KB per reload).
    """

    def __init__(self, path: Path, metrics: Metrics) -> None:
        self.path = path
        self._metrics = metrics
        self._listeners: list[Callable[[Policy], None]] = []
        self.decider = Decider(load_policy(path))
        self._publish(self.decider.policy)

    @property
    def policy(self) -> Policy:
        """The policy in use."""
        return self.decider.policy

    def on_change(self, listener: Callable[[Policy], None]) -> None:
        """Call ``listener`` with each new policy after a successful reload."""
        self._listeners.append(listener)

    def reload(self) -> ReloadResult:
        """Re-read ``path``; on any error keep serving the current policy."""
        try:
            decider = Decider(load_policy(self.path))
        except PolicyInvalid as invalid:
            self._metrics.policy_reloads.labels("rejected").inc()
            log.warning(
                "policy reload rejected, still serving %s:\n%s", self.policy.version, invalid
            )
            return ReloadResult(False, self.policy, tuple(invalid.errors))
        self.decider = decider
        self._metrics.policy_reloads.labels("success").inc()
        self._publish(decider.policy)
        for listener in self._listeners:
            listener(decider.policy)
        log.info("policy reloaded: %s %s", decider.policy.name, decider.policy.version)
        return ReloadResult(True, decider.policy)

    def _publish(self, policy: Policy) -> None:
        self._metrics.track_policy(
            name=policy.name,
            version=policy.version,
            checksum=policy.checksum,
            rules=[rule.id for rule in policy.rules],
            levels=policy.service_levels,
            tiers=policy.tiers,
        )
