"""Configuration: frozen, typed, one docstring per field, defaults as named constants."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_PREFIX = "tierline:customer:"
DEFAULT_INVALIDATION_CHANNEL = "tierline:invalidate"
DEFAULT_REDIS_TIMEOUT_SECONDS = 0.005
DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS = 0.25
DEFAULT_REDIS_HEALTH_CHECK_SECONDS = 30
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_COOLDOWN_SECONDS = 1.0
DEFAULT_NEAR_CACHE_SIZE = 100_000
DEFAULT_NEAR_CACHE_TTL_SECONDS = 2.0
DEFAULT_NEGATIVE_TTL_SECONDS = 0.5


@dataclass(frozen=True)
class RedisSettings:
    """How the feature store reaches Redis."""

    url: str = DEFAULT_REDIS_URL
    """redis://, rediss:// (TLS) or redis+cluster:// URL; user and password go in the URL."""
    cluster: bool = False
    """Treat the URL as a Redis Cluster seed node (also implied by redis+cluster://)."""
    key_prefix: str = DEFAULT_KEY_PREFIX
    """Prefix of customer hashes: several policies or tenants can share one Redis."""
    invalidation_channel: str = DEFAULT_INVALIDATION_CHANNEL
    """Pub/sub channel on which writers announce changed customers."""
    timeout_seconds: float = DEFAULT_REDIS_TIMEOUT_SECONDS
    """Socket timeout per read on the request path: the budget before a lookup is UNAVAILABLE."""
    connect_timeout_seconds: float = DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS
    """Time to open a connection (TCP and TLS handshakes). Longer than the read budget: pooled
    connections are reused, and a TLS handshake needs several round trips."""
    health_check_seconds: int = DEFAULT_REDIS_HEALTH_CHECK_SECONDS
    """A connection idle for longer than this is PINGed before use, so a dead one is replaced."""
    breaker_failures: int = DEFAULT_BREAKER_FAILURES
    """Consecutive failures that open the circuit (Redis is skipped while it is open)."""
    breaker_cooldown_seconds: float = DEFAULT_BREAKER_COOLDOWN_SECONDS
    """How long the circuit stays open before one lookup probes Redis again."""


@dataclass(frozen=True)
class NearCacheSettings:
    """The per-process cache in front of Redis."""

    enabled: bool = True
    """Turn the near-cache off to read Redis on every lookup."""
    max_entries: int = DEFAULT_NEAR_CACHE_SIZE
    """Bound on cached customers (least recently used are evicted)."""
    ttl_seconds: float = DEFAULT_NEAR_CACHE_TTL_SECONDS
    """How long a customer's features are served from memory."""
    negative_ttl_seconds: float = DEFAULT_NEGATIVE_TTL_SECONDS
    """How long "no such customer" is remembered (shorter: new customers appear soon)."""


DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_POLICY_PATH = "rules"
DEFAULT_METRICS_PORT = 9464
DEFAULT_MAX_CONCURRENT_RPCS = 1000
DEFAULT_GRACE_SECONDS = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Covers the largest valid DecideBatch: 1000 items at every field limit is about 11 MB."""
ENV_PREFIX = "TIERLINE_"


@dataclass(frozen=True)
class ServerConfig:
    """Everything `tierline serve` needs; built from flags, TIERLINE_* environment, defaults."""

    listen: str = DEFAULT_LISTEN
    """host:port for gRPC (port 0 picks a free port, printed at start)."""
    policy_path: str = DEFAULT_POLICY_PATH
    """The policy file or directory; ReloadPolicy and SIGHUP re-read it."""
    redis: RedisSettings = RedisSettings()
    """How features are read."""
    near_cache: NearCacheSettings = NearCacheSettings()
    """The per-process feature cache."""
    metrics_port: int = DEFAULT_METRICS_PORT
    """Port of the Prometheus /metrics endpoint; 0 turns it off."""
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS
    """RPCs in flight before new ones get RESOURCE_EXHAUSTED."""
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    """On SIGTERM, how long in-flight RPCs may take to finish."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """Largest request or response message accepted."""
    enable_admin: bool = False
    """Serve PolicyAdmin (ValidatePolicy, ReloadPolicy); off until callers authenticate."""


def env_name(flag: str) -> str:
    """The environment twin of a flag: --redis-url -> TIERLINE_REDIS_URL."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def masked_url(url: str) -> str:
    """A URL with its password replaced by ***, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
