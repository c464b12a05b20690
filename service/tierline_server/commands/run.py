"""The ``tierline`` command's parser and dispatch: a subcommand group per concern."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import NoReturn

from rich.markup import escape

from tierline_server.commands import decide as decide_commands
from tierline_server.commands import decisions as decisions_commands
from tierline_server.commands import features as features_commands
from tierline_server.commands import health as health_commands
from tierline_server.commands import policy as policy_commands
from tierline_server.commands import report as report_commands
from tierline_server.commands import serve as serve_commands
from tierline_server.commands.options import UsageError
from tierline_server.commands.output import errors
from tierline_server.policy.errors import EngineUnavailable


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line (the option, the value, what is allowed), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(
        prog="tierline", description="Real-time service entitlement: policy, features, service."
    )
    parser.add_argument(
        "--version", action="version", version=f"tierline {metadata.version('tierline')}"
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    policy_commands.register(groups)
    features_commands.register(groups)
    serve_commands.register(groups)
    decide_commands.register(groups)
    health_commands.register(groups)
    report_commands.register(groups)
    decisions_commands.register(groups)
    for command in commands(parser):
        command.set_defaults(command_parser=command)  # reports a UsageError as its own
    return parser


def commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers of every command (``tierline policy check``, ...) under ``parser``."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield parser
    for group in groups:
        for child in group.choices.values():
            yield from commands(child)


def run(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns its exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except UsageError as error:
        args.command_parser.error(str(error))
    except EngineUnavailable as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    return status
