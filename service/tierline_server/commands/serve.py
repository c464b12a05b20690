"""``tierline serve``: run the decision service."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from tierline_server.commands.options import add_settings, settings_from
from tierline_server.commands.output import policy_not_found
from tierline_server.config import ServerConfig, masked_url


def register(groups: Any) -> None:
    """Add ``serve`` to the CLI."""
    parser = groups.add_parser("serve", help="run the gRPC decision service")
    add_settings(parser, ServerConfig)
    parser.set_defaults(handler=serve_command)


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
    from tierline_server.supervisor import LOG_FORMAT, serve  # only this command needs them

    settings = settings_from(ServerConfig, args)
    missing = policy_not_found(settings.policy_path)
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    for line in describe(settings):
        print(f"config: {line}", flush=True)
    return serve(settings)
