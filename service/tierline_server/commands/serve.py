"""``tierline serve``: run the decision service."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from typing import Any

from tierline_server import config
from tierline_server.commands.options import (
    add_flag,
    add_near_cache_arguments,
    add_policy_argument,
    add_redis_arguments,
    near_cache_settings,
    parse_bool,
    redis_settings,
)
from tierline_server.config import ServerConfig, masked_url
from tierline_server.policy.errors import PolicyInvalid


def register(groups: Any) -> None:
    """Add ``serve`` to the CLI."""
    parser = groups.add_parser("serve", help="run the gRPC decision service")
    add_flag(parser, "--listen", config.DEFAULT_LISTEN, "gRPC host:port (port 0: any free port)")
    add_policy_argument(parser)
    add_redis_arguments(parser)
    add_near_cache_arguments(parser)
    add_flag(parser, "--metrics-port", config.DEFAULT_METRICS_PORT, "/metrics port, 0 = off", int)
    add_flag(
        parser, "--max-concurrent-rpcs", config.DEFAULT_MAX_CONCURRENT_RPCS, "in-flight RPCs", int
    )
    add_flag(parser, "--grace", config.DEFAULT_GRACE_SECONDS, "drain seconds on SIGTERM", float)
    add_flag(
        parser, "--max-message-bytes", config.DEFAULT_MAX_MESSAGE_BYTES, "largest message", int
    )
    add_flag(parser, "--enable-admin", False, "serve PolicyAdminService", parse_bool)
    add_flag(parser, "--log-level", "INFO", "logging level")
    parser.set_defaults(handler=serve_command)


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig for parsed flags."""
    return ServerConfig(
        listen=args.listen,
        policy_path=args.policy,
        redis=redis_settings(args),
        near_cache=near_cache_settings(args),
        metrics_port=args.metrics_port,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        grace_seconds=args.grace,
        max_message_bytes=args.max_message_bytes,
        enable_admin=args.enable_admin,
    )


def describe(settings: ServerConfig) -> list[str]:
    """The effective configuration, one ``name = value`` line each, secrets masked."""
    lines: list[str] = []
    for name, value in dataclasses.asdict(settings).items():
        if isinstance(value, dict):
            lines.extend(f"{name}.{key} = {_shown(key, item)}" for key, item in value.items())
        else:
            lines.append(f"{name} = {value}")
    return lines


def _shown(key: str, value: Any) -> Any:
    return masked_url(value) if key == "url" else value


def serve_command(args: argparse.Namespace) -> int:
    """Print the configuration and serve until SIGTERM / SIGINT."""
    from tierline_server.server import serve  # the server's imports are only for this command

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = server_config(args)
    for line in describe(settings):
        print(f"config: {line}", flush=True)
    try:
        asyncio.run(serve(settings))
    except PolicyInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        print(f"not serving: the policy at {settings.policy_path} has errors", file=sys.stderr)
        return 2
    return 0
