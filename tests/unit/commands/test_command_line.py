"""The ``tierline`` command as an operator meets it: one-line messages, never a traceback.

Each test runs the real command in a subprocess; none needs Redis or a running service (every
command here stops before connecting).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from support.command import COMMAND_SECONDS, tierline
from support.paths import REPO
from tierline_server.commands.run import build_parser, commands


def one_line_error(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The single line a failed command printed on stderr (nothing on stdout)."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_version() -> None:
    result = tierline("--version")
    assert (result.returncode, result.stdout) == (0, f"tierline {metadata.version('tierline')}\n")


def test_every_positional_argument_and_option_has_help() -> None:
    """What ``-h`` shows for each command: nothing without an explanation."""
    missing = [
        f"{parser.prog} {action.dest}"
        for parser in commands(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert missing == []


COMMANDS_WITH_REDIS = [
    ["serve"],
    ["features", "get", "c1"],
    ["features", "set", "c1", "tier=gold"],
    ["features", "delete", "c1"],
    ["features", "load", "customers.csv"],
]


def prog(command: list[str]) -> str:
    """The program name argparse gives a command: ``tierline features get``."""
    return " ".join(["tierline", *(word for word in command[:2] if word.isalpha())])


@pytest.mark.parametrize("command", COMMANDS_WITH_REDIS)
def test_a_bad_redis_url_reads_the_same_from_every_command(command: list[str]) -> None:
    """One line naming the option, the value and what is allowed, as a flag or from the
    environment."""
    problem = "must be a Redis URL starting with redis://, rediss://"
    by_flag = one_line_error(tierline(*command, "--redis-url", "foo://x"))
    assert by_flag.startswith(f"{prog(command)}: argument --redis-url: 'foo://x' {problem}")
    by_env = one_line_error(tierline(*command, env={"TIERLINE_REDIS_URL": "foo://x"}))
    assert by_env.startswith(
        f"{prog(command)}: argument --redis-url: 'foo://x' (set by TIERLINE_REDIS_URL) {problem}"
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://127.0.0.1:notaport/0", "is not a Redis URL (Port could not be cast"),
        ("redis://127.0.0.1:99999/0", "is not a Redis URL (Port out of range 0-65535)"),
        ("redis://[::1/0", "is not a Redis URL (Invalid IPv6 URL)"),
        ("redis://127.0.0.1:6379/abc", "names database 'abc': it must be a number"),
    ],
)
def test_a_redis_url_that_does_not_parse_is_refused_before_connecting(
    url: str, problem: str
) -> None:
    line = one_line_error(tierline("features", "get", "c1", "--redis-url", url))
    assert line.startswith(f"tierline features get: argument --redis-url: '{url}' {problem}")


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (["features", "load", "customers.csv"], 2),
        (["features", "get", "c000042"], 2),
        (["serve"], 2),
        (["policy", "check"], 1),  # a policy that does not compile: 1, as documented
        (["policy", "eval", "--context", '{"channel": "phone"}'], 1),
    ],
)
def test_outside_the_repository_the_policy_is_not_found_and_it_says_how_to_point_at_one(
    command: list[str], status: int, tmp_path: Path
) -> None:
    line = one_line_error(tierline(*command, cwd=tmp_path), status)
    assert line == (
        f"error: no policy at rules (looked for {tmp_path / 'rules'}): point at a policy file or "
        "directory with --policy PATH or the TIERLINE_POLICY environment variable"
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (
            ["--channel", "fax"],
            "argument --channel: 'fax' is not a channel "
            "(phone, chat, email, social, web, mobile_app, in_store)",
        ),
        (
            ["--channel", "web", "--currency", "euro"],
            "argument --currency: 'euro' is not an ISO 4217 currency code (such as EUR)",
        ),
        (
            ["--channel", "web", "--order-value", "59.90"],
            "argument --currency: required when an order value is given",
        ),
        (
            ["--channel", "web", "--order-value", "5000.5", "--currency", "JPY"],
            "argument --order-value: 5000.5 has more decimals than JPY has (0)",
        ),
        (
            ["--channel", "web", "--order-value", "5.1234", "--currency", "KWD"],
            "argument --order-value: 5.1234 has more decimals than KWD has (3)",
        ),
        (
            ["--channel", "web", "--order-value", "lots", "--currency", "EUR"],
            "argument --order-value: 'lots' is not an amount",
        ),
    ],
)
def test_decide_refuses_what_it_cannot_send_in_one_line(arguments: list[str], problem: str) -> None:
    """Before connecting: no service is needed to say what is wrong."""
    line = one_line_error(tierline("decide", "c1", *arguments, "--target", "127.0.0.1:9"))
    assert line == f"tierline decide: {problem} (see tierline decide -h)"


def test_policy_eval_degraded_says_so() -> None:
    """As if Redis were down: the gold customer's features are not used, and it says why."""
    result = tierline(
        "policy", "eval", "--degraded", "--features", '{"tier": "gold", "tenure_days": 400}',
        "--context", '{"channel": "chat", "intent": "outage"}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "degraded" in result.stdout
    assert "features_unavailable" in result.stdout
    assert "outage-credit 1000 minor units (by outage-credit)" in result.stdout
    assert "gold-priority-support" not in result.stdout


def client_only(root: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` seeing only what ``pip install tierline`` installs (no server extra):
    this repository's two packages and the base dependencies, linked into ``root``; -S keeps
    site-packages off the path."""
    site = Path(str(metadata.distribution("grpcio").locate_file("")))
    packages = {
        "tierline": REPO / "clients" / "python" / "tierline",
        "tierline_server": REPO / "service" / "tierline_server",
        "grpc": site / "grpc",
        "google/protobuf": site / "google" / "protobuf",
        "iso4217": site / "iso4217",
        "typing_extensions.py": site / "typing_extensions.py",
    }
    for name, source in packages.items():
        if not (root / name).exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).symlink_to(source)
    return subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(root)!r}); {code}",
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


@pytest.mark.parametrize("command", [["policy", "check"], ["--version"], ["decide", "c1"]])
def test_without_the_server_extra_the_command_says_what_to_install(
    command: list[str], tmp_path: Path
) -> None:
    client = client_only(tmp_path, "import tierline; print(tierline.EntitlementClient.__name__)")
    assert client.stdout == "EntitlementClient\n", client.stderr  # the client alone imports

    run_cli = "from tierline_server.cli import main; sys.exit(main(sys.argv[1:]))"
    line = one_line_error(client_only(tmp_path, run_cli, *command))
    assert line.startswith("tierline: the command needs the server extra (")
    assert line.endswith("is not installed): pip install 'tierline[server]'")
