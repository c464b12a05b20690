"""The ``tierline`` command: one entry point, a subcommand group per concern."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.markup import escape

from tierline_server.commands import decide as decide_commands
from tierline_server.commands import decisions as decisions_commands
from tierline_server.commands import features as features_commands
from tierline_server.commands import health as health_commands
from tierline_server.commands import policy as policy_commands
from tierline_server.commands import report as report_commands
from tierline_server.commands import serve as serve_commands
from tierline_server.commands.output import errors
from tierline_server.config import SettingError
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
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    policy_commands.register(groups)
    features_commands.register(groups)
    serve_commands.register(groups)
    decide_commands.register(groups)
    health_commands.register(groups)
    report_commands.register(groups)
    decisions_commands.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns its exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except (EngineUnavailable, SettingError) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
