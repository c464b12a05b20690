"""The ``tierline`` command's entry point.

The command needs the server extra (rich, redis, durable-rules, ...), yet a client-only install
(``pip install tierline``) has the entry point too: it says what to install rather than failing
on an import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

SERVER_EXTRA = "pip install 'tierline[server]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns its exit status."""
    try:
        from tierline_server.commands.run import run  # the server extra's imports start here
    except ModuleNotFoundError as error:
        print(
            f"tierline: the command needs the server extra ({error.name} is not installed): "
            f"{SERVER_EXTRA}",
            file=sys.stderr,
        )
        return 2
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
