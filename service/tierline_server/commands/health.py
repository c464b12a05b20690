"""``tierline health``: ask a running service for its gRPC health status (container health checks,
scripts, a person at a terminal).

Exit status: 0 SERVING; 1 anything else (NOT_SERVING, an unknown service, no answer), with one line
saying which; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.markup import escape

from tierline_server.commands.connect import add_connection_options, open_channel
from tierline_server.commands.output import console, errors

DEFAULT_TIMEOUT_SECONDS = 3.0
"""Long enough for a loaded host, short enough for a container runtime's check interval."""


def register(groups: Any) -> None:
    """Add ``health`` to the CLI."""
    parser = groups.add_parser("health", help="check a running service's gRPC health")
    add_connection_options(parser)
    parser.add_argument(
        "--service",
        default="",
        help="health entry to check: '' (the server), tierline.v1.EntitlementService, "
        "tierline.features (Redis), ... [default: '']",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds to wait for the answer [default: {DEFAULT_TIMEOUT_SECONDS}]",
    )
    parser.set_defaults(handler=health_command)


def _seconds(text: str) -> float:
    """A timeout: a number of seconds more than 0 (said as the other options say it)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds more than 0")
    return value


def health_command(args: argparse.Namespace) -> int:
    """Print the status; 0 when SERVING, 1 otherwise."""
    shown = f"{args.target} {args.service!r}" if args.service else args.target
    request = health_pb2.HealthCheckRequest(service=args.service)
    with open_channel(args) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(request, timeout=args.timeout)
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                console.print(f"{escape(shown)}: SERVICE_UNKNOWN (the server has no such entry)")
            else:
                errors.print(
                    f"{escape(shown)}: no answer: {error.code().name} "
                    f"({escape(error.details() or '')})"
                )
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    console.print(f"{escape(shown)}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1
