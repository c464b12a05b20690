"""Redis clients built from RedisSettings: the request path, the invalidation listener, the
service's background writes (the decision log), the CLI.

The request path gets at most one immediate reconnect (a pooled connection may have died with
a Redis restart); a slow or absent Redis is never retried there, because the caller is waiting.
Its read budget is not a socket timeout: the read path bounds each round trip itself
(``deadline.within``), so that a reply that arrived while the event loop was busy still counts.
Writers (the CLI) get longer timeouts and a few retries with backoff: nobody is waiting on the
phone.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any, TypeAlias

import redis
import redis.asyncio
import redis.asyncio.retry
from redis import exceptions
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from tierline_server.config import RedisSettings, SettingError

AsyncClient: TypeAlias = "redis.asyncio.Redis | redis.asyncio.RedisCluster"
SyncClient: TypeAlias = "redis.Redis | redis.RedisCluster"

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes that select Redis Cluster, and the scheme redis-py is given instead."""

BACKGROUND_TIMEOUT_SECONDS = 1.0
"""Budget of a background write: nobody waits on it, but it must not hold up a shutdown."""
WRITER_TIMEOUT_SECONDS = 10.0
WRITER_RETRIES = 3
LISTENER_HEALTH_CHECK_SECONDS = 5
"""The listener PINGs this often while idle, so a dead subscription is noticed and renewed."""

FAILURES: tuple[type[BaseException], ...] = (
    exceptions.RedisError,
    exceptions.RedisClusterException,
    OSError,
    asyncio.TimeoutError,
)
"""What a Redis call may raise when Redis is slow, down, refusing or being resharded."""


def is_cluster(settings: RedisSettings) -> bool:
    """Whether the settings name a Redis Cluster (by flag or by URL scheme)."""
    scheme = settings.url.partition("://")[0]
    return settings.cluster or scheme in CLUSTER_SCHEMES


def node_url(settings: RedisSettings) -> str:
    """The URL as redis-py spells it: a ``+cluster`` scheme becomes plain redis:// or rediss://."""
    scheme, separator, rest = settings.url.partition("://")
    return f"{CLUSTER_SCHEMES.get(scheme, scheme)}{separator}{rest}"


def tls_options(settings: RedisSettings) -> dict[str, Any]:
    """redis-py's TLS arguments for the settings' CA and client certificate; SettingError when
    they are given for a URL without TLS (they would be ignored: the operator must know)."""
    given = {
        "ssl_ca_certs": settings.tls_ca,
        "ssl_certfile": settings.tls_cert,
        "ssl_keyfile": settings.tls_key,
    }
    given = {name: path for name, path in given.items() if path}
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SettingError("--redis-tls-cert and --redis-tls-key go together: give both")
    if given and not node_url(settings).startswith("rediss://"):
        raise SettingError(
            "--redis-tls-ca, --redis-tls-cert and --redis-tls-key need a TLS URL: rediss:// "
            f"(or rediss+cluster://), not {settings.url.partition('://')[0]}://"
        )
    return given


def request_client(settings: RedisSettings) -> AsyncClient:
    """The asyncio client for lookups: the connect timeout, no retry on a timeout.

    A single node's connections get no socket timeout (every wait on them is bounded by the
    read path's deadline, and redis-py's would cost a timer per read); a cluster's get the
    connect timeout as a backstop for what redis-py does there on its own (topology refreshes).
    """
    options: dict[str, Any] = {
        "socket_timeout": settings.connect_timeout_seconds if is_cluster(settings) else None,
        "socket_connect_timeout": settings.connect_timeout_seconds,
        "health_check_interval": settings.health_check_seconds,
        # One immediate reconnect for a connection that died while pooled; never a retry of a
        # timeout, which would double the time a caller waits.
        "retry": redis.asyncio.retry.Retry(NoBackoff(), 1, (exceptions.ConnectionError,)),
    }
    return _async_client(settings, options)


def background_client(settings: RedisSettings) -> AsyncClient:
    """The asyncio client for the service's background writes (the decision log).

    Longer timeouts than the read path (a pipelined batch is bigger than a lookup, and no caller
    waits for it) and one immediate reconnect; the writer retries whole batches itself.
    """
    options: dict[str, Any] = {
        "socket_timeout": BACKGROUND_TIMEOUT_SECONDS,
        "socket_connect_timeout": max(settings.connect_timeout_seconds, BACKGROUND_TIMEOUT_SECONDS),
        "health_check_interval": settings.health_check_seconds,
        "retry": redis.asyncio.retry.Retry(NoBackoff(), 1, (exceptions.ConnectionError,)),
    }
    return _async_client(settings, options)


def _async_client(settings: RedisSettings, options: dict[str, Any]) -> AsyncClient:
    options.update(tls_options(settings))
    if is_cluster(settings):
        return redis.asyncio.RedisCluster.from_url(node_url(settings), **options)
    return redis.asyncio.from_url(node_url(settings), **options)


def listener_client(settings: RedisSettings) -> redis.asyncio.Redis:
    """A client for the invalidation subscription; it never reconnects by itself.

    The listener must know when its subscription broke (messages may have been missed, so the
    near-cache is cleared), hence no retries here. In a cluster it subscribes on the seed node:
    Redis Cluster forwards every PUBLISH to all nodes.
    """
    return redis.asyncio.from_url(
        node_url(settings),
        socket_connect_timeout=settings.connect_timeout_seconds,
        socket_keepalive=True,
        health_check_interval=LISTENER_HEALTH_CHECK_SECONDS,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
        **tls_options(settings),
    )


def writer_client(settings: RedisSettings) -> SyncClient:
    """A blocking client for the CLI's writes: generous timeouts and a few retries."""
    options: dict[str, Any] = {
        "socket_timeout": WRITER_TIMEOUT_SECONDS,
        "socket_connect_timeout": WRITER_TIMEOUT_SECONDS,
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), WRITER_RETRIES),
        **tls_options(settings),
    }
    if is_cluster(settings):
        return redis.RedisCluster.from_url(node_url(settings), **options)
    return redis.from_url(node_url(settings), **options)


class ErrorKind(enum.Enum):
    """What kind of failure a Redis call had (values are the ``redis_errors`` metric's labels)."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    AUTH = "auth"
    READONLY = "readonly"
    CLUSTER = "cluster"
    OTHER = "other"
    """Redis answered with an error about the command or the key (WRONGTYPE, say)."""


def error_kind(error: BaseException) -> ErrorKind:
    """The kind of a failure."""
    # Order matters: AuthenticationError is a ConnectionError, ClusterDownError a ResponseError.
    if isinstance(error, exceptions.TimeoutError | asyncio.TimeoutError | TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(
        error,
        exceptions.AuthenticationError
        | exceptions.AuthorizationError
        | exceptions.AuthenticationWrongNumberOfArgsError
        | exceptions.NoPermissionError,
    ):
        return ErrorKind.AUTH
    if isinstance(error, exceptions.ReadOnlyError):
        return ErrorKind.READONLY
    if isinstance(
        error,
        exceptions.ClusterError
        | exceptions.AskError
        | exceptions.TryAgainError
        | exceptions.ClusterCrossSlotError
        | exceptions.RedisClusterException,
    ):
        return ErrorKind.CLUSTER
    if isinstance(error, exceptions.ConnectionError | OSError):
        return ErrorKind.CONNECTION
    return ErrorKind.OTHER


def is_outage(error: BaseException) -> bool:
    """Whether a failure says Redis is unusable (rather than one key being wrong).

    A plain error reply such as WRONGTYPE means Redis answered: one malformed customer must not
    open the circuit for everyone.
    """
    return not (
        isinstance(error, exceptions.ResponseError) and error_kind(error) is ErrorKind.OTHER
    )
