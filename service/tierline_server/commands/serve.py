"""``tierline serve``: run the decision service."""

from __future__ import annotations

import argparse
import dataclasses
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


def effective(settings: Any) -> dict[str, Any]:
    """The effective configuration, nested as the settings are, secrets masked."""
    shown: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        option = option_of(field)
        shown[field.name] = (
            effective(value) if option is None else _shown(field.name, option, value)
        )
    return shown


def _shown(name: str, option: Option, value: Any) -> Any:
    if option.secret:
        return "***" if value else ""
    return masked_url(value) if name == "url" else value


def serve_command(args: argparse.Namespace) -> int:
    """Log the configuration and serve until SIGTERM / SIGINT."""
    import structlog  # only this command needs them

    from tierline_server import logs
    from tierline_server.supervisor import SUPERVISOR, serve

    settings = settings_from(ServerConfig, args)
    missing = policy_not_found(settings.policy_path)
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level, SUPERVISOR)
    structlog.get_logger(__name__).info("starting", config=effective(settings))
    return serve(settings)
