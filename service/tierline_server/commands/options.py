"""Flags shared by several commands; each flag's default comes from its TIERLINE_* twin."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, TypeVar

from tierline_server import config
from tierline_server.config import NearCacheSettings, RedisSettings, env_name

T = TypeVar("T")


def env_default(flag: str, default: T, parse: Callable[[str], T] = str) -> T:  # type: ignore[assignment]
    """The flag's default: its environment twin when set, else ``default``."""
    raw = os.environ.get(env_name(flag))
    return default if raw is None else parse(raw)


def parse_bool(text: str) -> bool:
    """true/false, 1/0, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def add_flag(
    parser: argparse.ArgumentParser,
    flag: str,
    default: Any,
    help: str,
    parse: Callable[[str], Any] = str,
) -> None:
    """A flag whose default is read from TIERLINE_<FLAG> first; the help names the variable."""
    switch = {"nargs": "?", "const": True} if parse is parse_bool else {}  # bare --flag = on
    parser.add_argument(
        flag,
        default=env_default(flag, default, parse),
        type=parse,
        help=f"{help} [{env_name(flag)}, default {default}]",
        **switch,  # type: ignore[arg-type]
    )


def add_policy_argument(parser: argparse.ArgumentParser) -> None:
    """--policy."""
    add_flag(parser, "--policy", config.DEFAULT_POLICY_PATH, "policy file or directory")


def add_redis_arguments(parser: argparse.ArgumentParser) -> None:
    """How to reach Redis: URL (redis://, rediss://, redis+cluster://), cluster, key prefix."""
    add_flag(parser, "--redis-url", config.DEFAULT_REDIS_URL, "Redis URL")
    add_flag(parser, "--redis-cluster", False, "treat the URL as a Redis Cluster node", parse_bool)
    add_flag(parser, "--key-prefix", config.DEFAULT_KEY_PREFIX, "prefix of customer keys")
    add_flag(
        parser,
        "--invalidation-channel",
        config.DEFAULT_INVALIDATION_CHANNEL,
        "pub/sub channel for cache invalidations",
    )
    add_flag(
        parser,
        "--redis-timeout",
        config.DEFAULT_REDIS_TIMEOUT_SECONDS,
        "seconds a feature read may take before the decision degrades",
        float,
    )


def redis_settings(args: argparse.Namespace) -> RedisSettings:
    """RedisSettings from the parsed flags."""
    return RedisSettings(
        url=args.redis_url,
        cluster=args.redis_cluster,
        key_prefix=args.key_prefix,
        invalidation_channel=args.invalidation_channel,
        timeout_seconds=args.redis_timeout,
    )


def add_near_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """The near-cache's switch, size and TTLs."""
    add_flag(parser, "--near-cache", True, "cache features in process", parse_bool)
    add_flag(parser, "--near-cache-size", config.DEFAULT_NEAR_CACHE_SIZE, "cached customers", int)
    add_flag(parser, "--near-cache-ttl", config.DEFAULT_NEAR_CACHE_TTL_SECONDS, "seconds", float)
    add_flag(
        parser,
        "--near-cache-negative-ttl",
        config.DEFAULT_NEGATIVE_TTL_SECONDS,
        "seconds an unknown customer is remembered",
        float,
    )


def near_cache_settings(args: argparse.Namespace) -> NearCacheSettings:
    """NearCacheSettings from the parsed flags."""
    return NearCacheSettings(
        enabled=args.near_cache,
        max_entries=args.near_cache_size,
        ttl_seconds=args.near_cache_ttl,
        negative_ttl_seconds=args.near_cache_negative_ttl,
    )
