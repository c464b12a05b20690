"""Configuration: frozen, typed objects, one declaration per setting.

Each field is declared once with ``setting(...)``: its default, its command-line flag, its help
and the parser that says what values are allowed. The flags, their ``TIERLINE_*`` environment
twins and the help text are all derived from these declarations (tierline_server.commands.options).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_PREFIX = "TIERLINE_"
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("json", "text")
"""json: one object per line, for a log collector; text: for a person at a terminal."""


@dataclass(frozen=True)
class Option:
    """How a setting is given: its flag (and environment twin), help, and value parser."""

    flag: str
    help: str
    parse: Callable[[str], Any]
    """Turns the text given into the value; ValueError saying what is allowed otherwise."""
    secret: bool = False
    """Never printed: the effective configuration shows *** instead."""

    @property
    def env(self) -> str:
        """The environment twin: --redis-url -> TIERLINE_REDIS_URL."""
        return ENV_PREFIX + self.flag.lstrip("-").replace("-", "_").upper()

    @property
    def dest(self) -> str:
        """The attribute argparse stores the value under."""
        return self.flag.lstrip("-").replace("-", "_")


def setting(
    default: Any,
    flag: str,
    help: str,
    parse: Callable[[str], Any] = str,
    *,
    secret: bool = False,
) -> Any:
    """Declare a setting: a dataclass field that carries its Option."""
    option = Option(flag, help, parse, secret)
    return dataclasses.field(default=default, metadata={"option": option})


class SettingError(ValueError):
    """Settings that are each valid but cannot work together, or a file a setting names that
    cannot be used; the message names the options."""


def option_of(field: dataclasses.Field[Any]) -> Option | None:
    """The Option a field was declared with, if any."""
    option: Option | None = field.metadata.get("option")
    return option


# --- value parsers: each raises ValueError saying what is allowed ------------------------------


def boolean(text: str) -> bool:
    """true/false, 1/0, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false (also 1/0, yes/no, on/off)")


def _number(kind: Callable[[str], Any], minimum: float, words: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"must be {words}") from None
        if not value >= minimum:  # also rejects NaN
            raise ValueError(f"must be {words}")
        return value

    parse.__name__ = words
    return parse


positive_int = _number(int, 1, "a whole number of at least 1")
non_negative_int = _number(int, 0, "a whole number of at least 0")
seconds = _number(float, 0, "a number of seconds, 0 or more")


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: none, or any free port where a listener allows it)."""
    value = non_negative_int(text)
    if value > 65535:
        raise ValueError("must be a port number from 0 to 65535")
    return int(value)


def listen_address(text: str) -> str:
    """host:port, where host is an IP address or a name and port is 0-65535."""
    host, colon, port_text = text.rpartition(":")
    if not colon or not host:
        raise ValueError("must be host:port, e.g. 127.0.0.1:50051 or [::]:50051")
    try:
        port(port_text)
    except ValueError:
        raise ValueError(f"port {port_text!r} must be a number from 0 to 65535") from None
    bare = host.removeprefix("[").removesuffix("]")
    if bare != host:
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise ValueError(f"{host} is not an IPv6 address") from None
    return text


def optional_listen_address(text: str) -> str:
    """'' (none), or host:port as listen_address takes it."""
    return text and listen_address(text)


ORIGIN_PATTERN = re.compile(r"https?://[^/\s*]+")


def origins(text: str) -> tuple[str, ...]:
    """'' (none), or comma-separated origins as browsers send them: scheme://host[:port]."""
    given = tuple(origin.strip().rstrip("/") for origin in text.split(",") if origin.strip())
    for origin in given:
        if not ORIGIN_PATTERN.fullmatch(origin):
            raise ValueError(
                f"names {origin!r}: each origin must be http:// or https:// and a host (with its "
                "port, if not the scheme's), e.g. https://shop.example.com, without a path"
            )
    return given


def metrics_address(text: str) -> str:
    """host:port, or :port for the gRPC listener's host."""
    return text if text.startswith(":") and port(text[1:]) >= 0 else listen_address(text)


def redis_url(text: str) -> str:
    """A Redis URL with one of REDIS_SCHEMES, a numeric port and database, e.g.
    redis://127.0.0.1:6379/0."""
    scheme = text.partition("://")[0] if "://" in text else ""
    if scheme not in REDIS_SCHEMES:
        allowed = ", ".join(f"{name}://" for name in REDIS_SCHEMES)
        raise ValueError(f"must be a Redis URL starting with {allowed}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (parses the port: ValueError when it is not 0-65535)
    except ValueError as error:
        raise ValueError(f"is not a Redis URL ({error}), e.g. {DEFAULT_REDIS_URL}") from None
    database = parts.path.removeprefix("/")
    if database and not re.fullmatch("[0-9]+", database):
        raise ValueError(
            f"names database {database!r}: it must be a number, e.g. {DEFAULT_REDIS_URL}"
        )
    return text


def share(text: str) -> float:
    """A fraction from 0 (none) to 1 (all)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number from 0 to 1") from None
    if not 0 <= value <= 1:  # also rejects NaN
        raise ValueError("must be a number from 0 to 1")
    return value


MIN_KEY_BYTES = 16
"""Shortest HMAC key accepted: a shorter one could be guessed."""


def secret_key(text: str) -> str:
    """'' (none), or a key of at least MIN_KEY_BYTES bytes."""
    if text and len(text.strip().encode()) < MIN_KEY_BYTES:
        raise ValueError(f"must be at least {MIN_KEY_BYTES} bytes long")
    return text


def key_file(text: str) -> str:
    """'' (none), or a readable file holding a key (secret_key's rules)."""
    if not text:
        return text
    try:
        content = Path(text).read_text()
    except OSError as error:
        raise ValueError(f"cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError("is not a text file (UTF-8)") from None
    if len(content.strip().encode()) < MIN_KEY_BYTES:
        raise ValueError(f"must hold a key of at least {MIN_KEY_BYTES} bytes")
    return text


def readable_file(text: str) -> str:
    """'' (none), or a file this process can read (what it holds is checked by its user)."""
    if not text:
        return text
    try:
        with open(text, "rb"):
            pass
    except OSError as error:
        raise ValueError(f"cannot be read: {error.strerror}") from None
    return text


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
INSTANT_RULE = (
    "an ISO 8601 time (2026-11-03, 2026-11-03T10:00Z; UTC unless it says) "
    "or a duration ago (90s, 15m, 2h, 7d)"
)


def instant(text: str) -> float:
    """A moment as epoch seconds: an ISO 8601 date or time, or a duration before now."""
    given = text.strip()
    duration = _DURATION.fullmatch(given)
    if duration:
        return time.time() - float(duration[1]) * _SECONDS_PER_UNIT[duration[2]]
    try:
        moment = datetime.fromisoformat(given.removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise ValueError(f"must be {INSTANT_RULE}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def log_level(text: str) -> str:
    """One of LOG_LEVELS (any case)."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def log_format(text: str) -> str:
    """One of LOG_FORMATS (any case)."""
    chosen = text.strip().lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"must be {' or '.join(LOG_FORMATS)}")
    return chosen


# --- the settings ------------------------------------------------------------------------------

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_PREFIX = "tierline:customer:"
DEFAULT_INVALIDATION_CHANNEL = "tierline:invalidate"
DEFAULT_REDIS_TIMEOUT_SECONDS = 0.005
DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS = 0.25
DEFAULT_REDIS_HEALTH_CHECK_SECONDS = 30
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_COOLDOWN_SECONDS = 1.0
DEFAULT_REDIS_MAX_VALUE_BYTES = 4096


@dataclass(frozen=True)
class RedisSettings:
    """How the feature store reaches Redis."""

    url: str = setting(
        DEFAULT_REDIS_URL,
        "--redis-url",
        "Redis URL: redis://, rediss:// (TLS) or redis+cluster://; user and password in the URL",
        redis_url,
    )
    cluster: bool = setting(
        False, "--redis-cluster", "treat the URL as a Redis Cluster seed node", boolean
    )
    tls_ca: str = setting(
        "",
        "--redis-tls-ca",
        "PEM file of the CAs that sign Redis's certificate (rediss:// URLs; default: the "
        "system's trust store)",
        readable_file,
    )
    tls_cert: str = setting(
        "",
        "--redis-tls-cert",
        "PEM client certificate for Redis servers that require one (with --redis-tls-key)",
        readable_file,
    )
    tls_key: str = setting(
        "", "--redis-tls-key", "PEM private key of --redis-tls-cert", readable_file
    )
    key_prefix: str = setting(
        DEFAULT_KEY_PREFIX,
        "--key-prefix",
        "prefix of customer hashes (several policies or tenants can share one Redis)",
    )
    invalidation_channel: str = setting(
        DEFAULT_INVALIDATION_CHANNEL,
        "--invalidation-channel",
        "pub/sub channel on which writers announce changed customers",
    )
    timeout_seconds: float = setting(
        DEFAULT_REDIS_TIMEOUT_SECONDS,
        "--redis-timeout",
        "seconds a feature read may take before the decision degrades",
        seconds,
    )
    connect_timeout_seconds: float = setting(
        DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS,
        "--redis-connect-timeout",
        "seconds to open a connection (TCP and TLS handshakes); longer than the read budget",
        seconds,
    )
    health_check_seconds: int = setting(
        DEFAULT_REDIS_HEALTH_CHECK_SECONDS,
        "--redis-health-check",
        "a connection idle longer than this many seconds is PINGed before use",
        non_negative_int,
    )
    breaker_failures: int = setting(
        DEFAULT_BREAKER_FAILURES,
        "--breaker-failures",
        "consecutive Redis failures that open the circuit (Redis is skipped while open)",
        positive_int,
    )
    breaker_cooldown_seconds: float = setting(
        DEFAULT_BREAKER_COOLDOWN_SECONDS,
        "--breaker-cooldown",
        "seconds the circuit stays open before one lookup probes Redis again",
        seconds,
    )
    max_value_bytes: int = setting(
        DEFAULT_REDIS_MAX_VALUE_BYTES,
        "--redis-max-value-bytes",
        "longest feature value read; a longer one is left in Redis and counts as undecodable",
        positive_int,
    )


REDIS_TLS = ("tls_ca", "tls_cert", "tls_key")
"""The Redis settings of TLS: every command that reaches Redis takes them."""
REDIS_CONNECTION = ("url", "cluster", *REDIS_TLS, "key_prefix", "invalidation_channel")
"""The Redis settings a writer (the CLI) needs; the others tune the serving read path."""

DEFAULT_NEAR_CACHE_SIZE = 100_000
DEFAULT_NEAR_CACHE_TTL_SECONDS = 2.0
DEFAULT_NEGATIVE_TTL_SECONDS = 0.5


@dataclass(frozen=True)
class NearCacheSettings:
    """The per-process cache in front of Redis."""

    enabled: bool = setting(True, "--near-cache", "cache features in process", boolean)
    max_entries: int = setting(
        DEFAULT_NEAR_CACHE_SIZE,
        "--near-cache-size",
        "customers cached (least recently used are evicted)",
        non_negative_int,
    )
    ttl_seconds: float = setting(
        DEFAULT_NEAR_CACHE_TTL_SECONDS,
        "--near-cache-ttl",
        "seconds a customer's features are served from memory",
        seconds,
    )
    negative_ttl_seconds: float = setting(
        DEFAULT_NEGATIVE_TTL_SECONDS,
        "--near-cache-negative-ttl",
        "seconds an unknown customer is remembered (shorter: new customers appear soon)",
        seconds,
    )


DEFAULT_DECISION_LOG_STREAM = "tierline:decisions"
DEFAULT_DECISION_LOG_MAX_LENGTH = 100_000
"""About 1.4 KB of Redis memory each (bench/decisionlog.py): about 140 MB in all."""
DEFAULT_DECISION_LOG_QUEUE = 10_000
DEFAULT_DECISION_LOG_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class DecisionLogSettings:
    """The decision log: decisions appended to a Redis Stream, off the request path."""

    enabled: bool = setting(
        True, "--decision-log", "append decisions to a Redis Stream (written in the background)",
        boolean,
    )  # fmt: skip
    stream: str = setting(
        DEFAULT_DECISION_LOG_STREAM,
        "--decision-log-stream",
        "key of the stream (one key, so Redis Cluster keeps it on one node)",
    )
    sample_decide: float = setting(
        1.0, "--decision-log-sample-decide", "share of Decide decisions logged, 0 to 1", share
    )
    sample_batch: float = setting(
        1.0,
        "--decision-log-sample-batch",
        "share of DecideBatch decisions logged (each item drawn alone), 0 to 1",
        share,
    )
    max_length: int = setting(
        DEFAULT_DECISION_LOG_MAX_LENGTH,
        "--decision-log-max-length",
        "entries the stream keeps (approximately: older ones are trimmed), 0 = no limit",
        non_negative_int,
    )
    max_age_seconds: float = setting(
        0.0,
        "--decision-log-max-age",
        "seconds the stream keeps an entry (approximately), 0 = no limit",
        seconds,
    )
    queue_size: int = setting(
        DEFAULT_DECISION_LOG_QUEUE,
        "--decision-log-queue",
        "decisions waiting to be written; beyond it new ones are dropped (and counted)",
        positive_int,
    )
    retry_seconds: float = setting(
        DEFAULT_DECISION_LOG_RETRY_SECONDS,
        "--decision-log-retry",
        "seconds a queued decision is retried while Redis fails, then dropped (and counted)",
        seconds,
    )
    customer_key: str = setting(
        "",
        "--decision-log-customer-key",
        "log a keyed hash (HMAC-SHA256) of customer ids rather than the ids; set the key in "
        "the environment or a file, not on a command line that others can list",
        secret_key,
        secret=True,
    )
    customer_key_file: str = setting(
        "",
        "--decision-log-customer-key-file",
        "file holding the key of --decision-log-customer-key",
        key_file,
    )


DECISION_LOG_READING = ("stream", "customer_key", "customer_key_file")
"""The decision log settings a reader (the CLI) needs."""


@dataclass(frozen=True)
class TlsSettings:
    """TLS on the gRPC port (and, optionally, on /metrics): files re-read when they change."""

    cert: str = setting(
        "",
        "--tls-cert",
        "PEM certificate chain of the gRPC port (with --tls-key); re-read when the file "
        "changes, without a restart",
        readable_file,
    )
    key: str = setting("", "--tls-key", "PEM private key of --tls-cert", readable_file)
    client_ca: str = setting(
        "",
        "--tls-client-ca",
        "PEM file of the CAs whose client certificates are accepted: mutual TLS (a client "
        "without a valid certificate is refused in the handshake)",
        readable_file,
    )
    metrics: bool = setting(
        False,
        "--metrics-tls",
        "serve /metrics over the same TLS (and mutual TLS with --tls-client-ca)",
        boolean,
    )

    @property
    def enabled(self) -> bool:
        """Whether the gRPC port speaks TLS."""
        return bool(self.cert)


@dataclass(frozen=True)
class AuthSettings:
    """Who may call, and what each caller may do."""

    callers_file: str = setting(
        "",
        "--auth-file",
        "YAML file of the callers: each one's name, permissions (decide, explain, admin) and "
        "credentials (SHA-256 hashes of bearer tokens, client certificate subjects); re-read "
        "when it changes (see docs/security.md)",
        readable_file,
    )
    insecure_no_auth: bool = setting(
        False,
        "--insecure-no-auth",
        "serve without authentication: whoever reaches the port may decide and read "
        "explanations (local development only; PolicyAdminService stays off)",
        boolean,
    )


@dataclass(frozen=True)
class ShadowSettings:
    """A candidate policy evaluated beside the live one on a share of live decisions; callers
    only ever get the live decision."""

    policy: str = setting(
        "",
        "--shadow-policy",
        "a candidate policy (file or directory) that also decides a share of live decisions: "
        "agreements and differences are counted, differences logged with both decisions "
        "('': none; reloads re-read it)",
    )
    share: float = setting(
        1.0, "--shadow-share", "share of decisions the shadow policy also decides, 0 to 1", share
    )


DEFAULT_HTTP_READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP listener: Connect (JSON or binary protobuf) and gRPC-Web beside gRPC."""

    listen: str = setting(
        "",
        "--http-listen",
        "host:port of the HTTP listener: the Connect protocol (JSON or binary protobuf, HTTP/1.1 "
        "and HTTP/2), gRPC-Web, GET /healthz and /readyz; the same callers, limits and TLS as "
        "gRPC (port 0: any free port); '' = none",
        optional_listen_address,
    )
    read_timeout_seconds: float = setting(
        DEFAULT_HTTP_READ_TIMEOUT_SECONDS,
        "--http-read-timeout",
        "seconds an HTTP request may take to arrive whole (its headers, then its body), and an "
        "idle connection stays open; a slower client is refused",
        seconds,
    )
    cors_origins: tuple[str, ...] = setting(
        (),
        "--http-cors-origins",
        "comma-separated origins whose browser pages may call the HTTP listener (CORS), e.g. "
        "https://shop.example.com; '' = none",
        origins,
    )


DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_POLICY_PATH = "rules"
DEFAULT_METRICS_PORT = 9464
DEFAULT_METRICS_LISTEN = f":{DEFAULT_METRICS_PORT}"
DEFAULT_WORKERS = len(os.sched_getaffinity(0))
"""One worker per CPU this process may run on."""
DEFAULT_MAX_IN_FLIGHT = 1000
DEFAULT_MAX_QUEUE_SECONDS = 1.0
DEFAULT_STREAMS_PER_CONNECTION = 100
DEFAULT_MAX_CONNECTION_AGE_SECONDS = 300.0
DEFAULT_GRACE_SECONDS = 10.0
DEFAULT_LOG_FORMAT = "text" if sys.stderr is not None and sys.stderr.isatty() else "json"
"""Text for a person at a terminal, JSON for whatever collects the log of a container or unit."""
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""The transport's limit: a larger message is refused from its length prefix, before any of it
is buffered (RESOURCE_EXHAUSTED, as the gRPC specification says). Each method's own limit, at
most this, is checked before its request is parsed (INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything `tierline serve` needs; built from flags, TIERLINE_* environment, defaults."""

    listen: str = setting(
        DEFAULT_LISTEN,
        "--listen",
        "gRPC host:port (port 0: any free port, printed at start)",
        listen_address,
    )
    policy_path: str = setting(
        DEFAULT_POLICY_PATH,
        "--policy",
        "the policy file or directory (ReloadPolicy and SIGHUP re-read it)",
    )
    tls: TlsSettings = dataclasses.field(default_factory=TlsSettings)
    auth: AuthSettings = dataclasses.field(default_factory=AuthSettings)
    redis: RedisSettings = dataclasses.field(default_factory=RedisSettings)
    near_cache: NearCacheSettings = dataclasses.field(default_factory=NearCacheSettings)
    decision_log: DecisionLogSettings = dataclasses.field(default_factory=DecisionLogSettings)
    shadow: ShadowSettings = dataclasses.field(default_factory=ShadowSettings)
    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)
    workers: int = setting(
        DEFAULT_WORKERS,
        "--workers",
        "serving processes sharing the port, each with its own engine (default: usable CPUs)",
        positive_int,
    )
    pin_workers: bool = setting(
        False,
        "--pin-workers",
        "pin each worker to one of the usable CPUs (worker i to the i-th): faster when the server "
        "has its CPUs to itself, harmful when other processes are pinned to the same ones",
        boolean,
    )
    watch: bool = setting(
        False, "--watch", "reload the policy when its files change (checked every second)",
        boolean,
    )  # fmt: skip
    metrics_listen: str = setting(
        DEFAULT_METRICS_LISTEN,
        "--metrics-listen",
        "host:port of the Prometheus /metrics endpoint (:port: on the gRPC listener's host; "
        "port 0: off)",
        metrics_address,
    )
    health_listen: str = setting(
        "",
        "--health-listen",
        "host:port of a plaintext listener with gRPC health only, for probes that cannot speak "
        "TLS (the kubelet's gRPC probes, a container health check); '' = none",
        optional_listen_address,
    )
    max_in_flight: int = setting(
        DEFAULT_MAX_IN_FLIGHT,
        "--max-in-flight",
        "decisions in progress per worker before new calls are shed with RESOURCE_EXHAUSTED",
        positive_int,
    )
    max_queue_seconds: float = setting(
        DEFAULT_MAX_QUEUE_SECONDS,
        "--max-queue",
        "longest a call without a deadline may wait behind others before it is shed",
        seconds,
    )
    streams_per_connection: int = setting(
        DEFAULT_STREAMS_PER_CONNECTION,
        "--streams-per-connection",
        "concurrent calls one connection may open (one client cannot take every slot)",
        positive_int,
    )
    max_connection_age_seconds: float = setting(
        DEFAULT_MAX_CONNECTION_AGE_SECONDS,
        "--max-connection-age",
        "seconds after which a connection is asked to reconnect (spreads clients over "
        "replicas, and ends connections that hold calls they never finish)",
        seconds,
    )
    grace_seconds: float = setting(
        DEFAULT_GRACE_SECONDS,
        "--grace",
        "seconds in-flight RPCs may take to finish on SIGTERM",
        seconds,
    )
    max_message_bytes: int = setting(
        DEFAULT_MAX_MESSAGE_BYTES,
        "--max-message-bytes",
        "largest request or response message accepted",
        positive_int,
    )
    enable_admin: bool = setting(
        False,
        "--enable-admin",
        "serve PolicyAdminService (ValidatePolicy, ReloadPolicy) to callers with the admin "
        "permission (needs --auth-file with such a caller)",
        boolean,
    )
    reflection: bool = setting(
        True,
        "--reflection",
        "serve gRPC server reflection (the API's schema, as grpcurl uses it) to anyone",
        boolean,
    )
    log_level: str = setting("INFO", "--log-level", "DEBUG, INFO, WARNING or ERROR", log_level)
    log_format: str = setting(
        DEFAULT_LOG_FORMAT,
        "--log-format",
        "json (one object per line) or text; the default is text on a terminal, json otherwise",
        log_format,
    )


def check_security(config: ServerConfig) -> None:
    """Raise SettingError for TLS and authentication settings that cannot work together."""
    tls, auth = config.tls, config.auth
    if bool(tls.cert) != bool(tls.key):
        raise SettingError(
            "--tls-cert and --tls-key (TIERLINE_TLS_CERT, TIERLINE_TLS_KEY) go together: give both"
        )
    if not tls.enabled and (tls.client_ca or tls.metrics):
        given = "--tls-client-ca" if tls.client_ca else "--metrics-tls"
        raise SettingError(f"{given} needs --tls-cert and --tls-key (the server's certificate)")
    if auth.callers_file and auth.insecure_no_auth:
        raise SettingError("--auth-file and --insecure-no-auth contradict each other: give one")
    if not auth.callers_file and not auth.insecure_no_auth:
        raise SettingError(
            "no --auth-file (TIERLINE_AUTH_FILE): give the file of callers and their "
            "permissions (docs/security.md), or --insecure-no-auth to let anyone who reaches "
            "the port decide"
        )
    if auth.insecure_no_auth and config.enable_admin:
        raise SettingError(
            "--enable-admin needs --auth-file: PolicyAdminService is never open to anonymous "
            "callers (--insecure-no-auth)"
        )


HTTP_MIN_PYTHON = (3, 11)
"""The Connect runtime (connectrpc) needs Python 3.11; gRPC alone runs on 3.10."""


def check_http(config: ServerConfig) -> None:
    """Raise SettingError when the HTTP listener is asked for where it cannot run."""
    if config.http.listen and sys.version_info < HTTP_MIN_PYTHON:
        raise SettingError(
            f"--http-listen needs Python {'.'.join(map(str, HTTP_MIN_PYTHON))} or newer (the "
            f"Connect runtime does); this is {sys.version_info.major}.{sys.version_info.minor}: "
            "serve gRPC only, or run on a newer Python"
        )


def metrics_endpoint(config: ServerConfig) -> tuple[str, int] | None:
    """Where /metrics listens (host, port), or None when it is off."""
    host, _, port_text = config.metrics_listen.rpartition(":")
    if not int(port_text):
        return None
    return (host or config.listen.rpartition(":")[0]).strip("[]"), int(port_text)


def masked_url(url: str) -> str:
    """A URL with its password replaced by ***, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
