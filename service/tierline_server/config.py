"""Configuration: frozen, typed, one docstring per field, defaults as named constants."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_PREFIX = "tierline:customer:"
DEFAULT_INVALIDATION_CHANNEL = "tierline:invalidate"
DEFAULT_REDIS_TIMEOUT_SECONDS = 0.005
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
