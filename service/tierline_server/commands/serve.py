"""``tierline serve``: run the decision service."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from typing import Any

from tierline_server.commands.options import add_settings, settings_from
from tierline_server.config import Option, ServerConfig, SettingError, masked_url, option_of
from tierline_server.policy.errors import PolicyInvalid


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
    from tierline_server.server import serve  # the server's imports are only for this command

    settings = settings_from(ServerConfig, args)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for line in describe(settings):
        print(f"config: {line}", flush=True)
    try:
        asyncio.run(serve(settings))
    except PolicyInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        print(f"not serving: the policy at {settings.policy_path} has errors", file=sys.stderr)
        return 2
    except SettingError as error:
        print(f"not serving: {error}", file=sys.stderr)
        return 2
    return 0
