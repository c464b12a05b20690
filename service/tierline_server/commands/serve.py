"""``tierline serve``: run the decision service."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from tierline_server.commands.options import add_settings, settings_from
from tierline_server.commands.output import policy_not_found
from tierline_server.config import Option, ServerConfig, masked_url, option_of


def register(groups: Any) -> None:
    """Add ``serve`` to the CLI."""
    parser = groups.add_parser("serve", help="run the gRPC decision service")
    add_settings(parser, ServerConfig)
    parser.set_defaults(handler=serve_command)


def describe(settings: Any, prefix: str = "") -> list[str]:
    """The effective configuration, one ``name = value`` line each, secrets masked."""
    lines: list[str] = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        option = option_of(field)
        if option is None:  # a nested group of settings
            lines.extend(describe(value, f"{prefix}{field.name}."))
        else:
            lines.append(f"{prefix}{field.name} = {_shown(field.name, option, value)}")
    return lines


def _shown(name: str, option: Option, value: Any) -> Any:
    if option.secret:
        return "***" if value else ""
    return masked_url(value) if name == "url" else value


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
