"""Every Prometheus metric Tierline exports, in one place.

Units are in the names, counters end in ``_total``, label values come from bounded sets (never a
customer ID) and are initialised up front so dashboards see zeros rather than gaps. Tests build
their own ``Metrics`` on a fresh registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from tierline_server.features.lookup import BadRecord, FeatureSource
from tierline_server.features.redis_client import ErrorKind

# A `_created` series per counter and histogram child is a timestamp nobody graphs (Prometheus
# itself ignores it unless asked): without them /metrics is a third shorter.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client

LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
"""50 us to 1 s: decisions take well under a millisecond when healthy."""

DECISION_METHODS = ("Decide", "DecideBatch")
DECISION_OUTCOMES = ("ok", "degraded", "invalid", "refused", "shed", "abandoned", "error")
"""refused: unauthenticated or not permitted; shed: refused at once under overload; abandoned:
the caller cancelled or its deadline passed."""
RPC_METHODS = (*DECISION_METHODS, "GetPolicy", "ValidatePolicy", "ReloadPolicy")
PROTOCOLS = ("grpc", "connect", "grpc_web")
"""How a call reached the service: gRPC, or over the HTTP listener the Connect protocol (JSON or
binary protobuf) or gRPC-Web."""
RELOAD_RESULTS = ("success", "rejected")
AUTH_REFUSALS = (
    "no_credentials",
    "malformed_credentials",
    "unknown_token",
    "unknown_certificate",
    "not_permitted",
    "explain_not_permitted",
)
"""Why a call was refused: the first four are UNAUTHENTICATED (no credentials, an authorization
that is not `Bearer TOKEN`, a token or a client certificate of no known caller), the last two
PERMISSION_DENIED (the method's permission, or explain, missing)."""
DECISION_LOG_DROPS = ("queue_full", "redis", "shutdown")
"""Why the decision log lost a decision: its queue was full; Redis failed for longer than the
retry time, or refused the entry; the service stopped before it could be written."""
GRPC_CALL_RESULTS = ("started", "succeeded", "failed")
"""gRPC's own count of calls (channelz): started, and ended OK or otherwise."""
SHADOW_RESULTS = ("agree", "differ", "error", "skipped")
"""What became of a decision drawn for the shadow policy: it decided the same for the customer,
or otherwise; it failed (counted, never raised); it was not evaluated (its queue was full)."""


class Metrics:
    """Tierline's metrics, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.decision_duration = Histogram(
            "tierline_decision_duration_seconds",
            "Time to answer a decision request, by RPC method and outcome.",
            ["method", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.feature_lookup_duration = Histogram(
            "tierline_feature_lookup_duration_seconds",
            "Time to look up a customer's features, by where they came from.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rule_evaluation_duration = Histogram(
            "tierline_rule_evaluation_duration_seconds",
            "Time to evaluate the policy's rules and merge the grants for one decision.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "tierline_decisions_total",
            "Decisions made, by service level and tier.",
            ["service_level", "tier"],
            registry=registry,
        )
        self.rule_matches = Counter(
            "tierline_rule_matches_total",
            "Times each rule matched, by rule id.",
            ["rule"],
            registry=registry,
        )
        self.degraded_decisions = Counter(
            "tierline_degraded_decisions_total",
            "Decisions made without the customer's features (baseline and context-only rules).",
            registry=registry,
        )
        self.near_cache_hits = Counter(
            "tierline_near_cache_hits_total", "Feature lookups served by the near-cache.",
            registry=registry,
        )  # fmt: skip
        self.near_cache_misses = Counter(
            "tierline_near_cache_misses_total", "Feature lookups the near-cache could not serve.",
            registry=registry,
        )  # fmt: skip
        self.near_cache_evictions = Counter(
            "tierline_near_cache_evictions_total", "Near-cache entries evicted to stay bounded.",
            registry=registry,
        )  # fmt: skip
        self.near_cache_invalidations = Counter(
            "tierline_near_cache_invalidations_total",
            "Near-cache entries dropped on an invalidation message.",
            registry=registry,
        )
        self.redis_errors = Counter(
            "tierline_redis_errors_total",
            "Failed Redis calls on the read path, by kind.",
            ["kind"],
            registry=registry,
        )
        self.circuit_open = Gauge(
            "tierline_redis_circuit_open",
            "1 while the read path skips Redis after consecutive failures, else 0.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.undecodable_features = Counter(
            "tierline_undecodable_features_total",
            "Stored feature values that did not decode to the policy's type (used the default).",
            registry=registry,
        )
        self.policy_info = Gauge(
            "tierline_policy_info",
            "The policy each worker serves (1 per worker and policy; during a reload both).",
            ["name", "version", "checksum"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.rpcs = Counter(
            "tierline_rpcs_total",
            "RPCs answered, by method, gRPC status code (the Connect code of an HTTP call is its "
            "twin) and protocol: what callers saw, shed load (RESOURCE_EXHAUSTED) and abandoned "
            "calls (CANCELLED, DEADLINE_EXCEEDED) included.",
            ["method", "code", "protocol"],
            registry=registry,
        )
        self.auth_refusals = Counter(
            "tierline_auth_refusals_total",
            "Calls refused by authentication (UNAUTHENTICATED) or permissions "
            "(PERMISSION_DENIED), by method and reason.",
            ["method", "reason"],
            registry=registry,
        )
        self.decisions_in_flight = Gauge(
            "tierline_decisions_in_flight",
            "Decisions admitted and not yet answered (sampled every second).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.decision_cost = Gauge(
            "tierline_decision_cost_seconds",
            "Event-loop CPU time per decision, as admission control measures it (sampled every "
            "second).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.worker_restarts = Counter(
            "tierline_worker_restarts_total",
            "Worker processes restarted after exiting unexpectedly.",
            registry=registry,
        )
        self.policy_reloads = Counter(
            "tierline_policy_reloads_total",
            "Policy reload attempts, by result.",
            ["result"],
            registry=registry,
        )
        self.decision_log_written = Counter(
            "tierline_decision_log_written_total",
            "Decisions written to the decision log's stream.",
            registry=registry,
        )
        self.decision_log_dropped = Counter(
            "tierline_decision_log_dropped_total",
            "Decisions the decision log lost, by reason (queue_full, redis, shutdown).",
            ["reason"],
            registry=registry,
        )
        self.decision_log_queued = Gauge(
            "tierline_decision_log_queue_entries",
            "Decisions waiting to be written to the decision log.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.decision_log_write_duration = Histogram(
            "tierline_decision_log_write_duration_seconds",
            "Time to write one batch of decisions to the stream (one script call), failures too.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.shadow_decisions = Counter(
            "tierline_shadow_decisions_total",
            "Live decisions drawn for the shadow policy, by result: agree, differ, error, skipped.",
            ["result"],
            registry=registry,
        )
        self.shadow_differences = Counter(
            "tierline_shadow_differences_total",
            "Shadow decisions that differ for the customer, by kind of difference (one decision "
            "may count under several kinds).",
            ["kind"],
            registry=registry,
        )
        self.shadow_rule_differences = Counter(
            "tierline_shadow_rule_differences_total",
            "Shadow decisions that differ for the customer, by each rule behind the difference "
            "(matched under one policy only, or under both with another grant; 'baseline' when "
            "no rule is).",
            ["rule"],
            registry=registry,
        )
        self.shadow_evaluation_duration = Histogram(
            "tierline_shadow_evaluation_duration_seconds",
            "Time the shadow policy took to decide and compare one decision (after the answer).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.shadow_policy_info = Gauge(
            "tierline_shadow_policy_info",
            "The shadow policy each worker evaluates (1 per worker and policy).",
            ["name", "version", "checksum"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.grpc_calls = Counter(
            "tierline_grpc_calls_total",
            "Calls gRPC started on this server's ports and how they ended, by result (started, "
            "succeeded, failed), from gRPC's own counts (channelz), health checks included: "
            "failed also counts calls gRPC ended before any handler ran (their deadline passed "
            "while they waited for a worker), which tierline_rpcs_total cannot see.",
            ["result"],
            registry=registry,
        )
        self.bad_feature_records = Counter(
            "tierline_bad_feature_records_total",
            "Customer records read from Redis that were malformed, by reason (the customer is "
            "treated as unknown, or the bad values as undecodable; Redis is not at fault).",
            ["reason"],
            registry=registry,
        )
        self._initialise_labels()

    def _initialise_labels(self) -> None:
        for method in DECISION_METHODS:
            for outcome in DECISION_OUTCOMES:
                self.decision_duration.labels(method, outcome)
        for source in FeatureSource:
            self.feature_lookup_duration.labels(source.value)
        for kind in ErrorKind:
            self.redis_errors.labels(kind.value)
        for result in RELOAD_RESULTS:
            self.policy_reloads.labels(result)
        for method in RPC_METHODS:
            for code in ("OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"):
                for protocol in PROTOCOLS:
                    self.rpcs.labels(method, code, protocol)
            for reason in AUTH_REFUSALS:
                self.auth_refusals.labels(method, reason)
        for reason in DECISION_LOG_DROPS:
            self.decision_log_dropped.labels(reason)
        for bad in BadRecord:
            self.bad_feature_records.labels(bad.value)
        for result in GRPC_CALL_RESULTS:
            self.grpc_calls.labels(result)

    def track_shadow(
        self, *, name: str, version: str, checksum: str, kinds: Iterable[str],
        rules: Iterable[str],
    ) -> None:  # fmt: skip
        """Publish the shadow policy and pre-initialise the shadow's result, kind and rule
        labels (only a server with a shadow has these series)."""
        self.shadow_policy_info.labels(name, version, checksum).set(1)
        for result in SHADOW_RESULTS:
            self.shadow_decisions.labels(result)
        for kind in kinds:
            self.shadow_differences.labels(kind)
        for rule in rules:
            self.shadow_rule_differences.labels(rule)

    def track_policy(
        self, *, name: str, version: str, checksum: str, rules: Iterable[str],
        levels: Iterable[str], tiers: Iterable[str],
    ) -> None:  # fmt: skip
        """Publish the served policy and pre-initialise its rule, level and tier labels."""
        self.policy_info.labels(name, version, checksum).set(1)
        for rule in rules:
            self.rule_matches.labels(rule)
        for level in levels:
            for tier in tiers:
                self.decisions.labels(level, tier)
