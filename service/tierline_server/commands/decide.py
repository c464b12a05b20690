"""``tierline decide``: ask a running service for a decision, as a table or canonical JSON."""

from __future__ import annotations

import argparse
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.markup import escape
from tierline import messages, money
from tierline.errors import InvalidRequest
from tierline.interaction import CHANNEL_NAMES, Channel, DecisionRequest
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

from tierline_server.commands.options import UsageError, add_option
from tierline_server.commands.output import errors, print_decision, print_decision_json
from tierline_server.config import DEFAULT_LISTEN, Option, listen_address

DEFAULT_TIMEOUT_SECONDS = 5.0
TARGET = Option("--target", "address of a running service, host:port", listen_address)


def register(groups: Any) -> None:
    """Add ``decide`` to the CLI."""
    parser = groups.add_parser("decide", help="ask a running service for a decision")
    parser.add_argument("customer_id", help="the customer, e.g. c000042")
    parser.add_argument(
        "--channel",
        required=True,
        type=_channel,
        help=f"{CHANNEL_NAMES} (any case; mobile-app and CHANNEL_MOBILE_APP work too)",
    )
    parser.add_argument("--intent", default="", help="support, billing, cancel, purchase, ...")
    parser.add_argument(
        "--order-value",
        help="order value in major units of --currency: 59.90 EUR, 5000 JPY, 5.125 KWD",
    )
    parser.add_argument(
        "--currency", type=_currency, help="ISO 4217 code of --order-value, e.g. EUR (any case)"
    )
    parser.add_argument("--items", type=int, default=0, help="item count")
    parser.add_argument(
        "--attr", action="append", default=[], type=_attribute, help="attribute key=value"
    )
    parser.add_argument("--explain", action="store_true", help="show why each rule matched")
    parser.add_argument("--json", action="store_true", help="print protobuf's canonical JSON")
    add_option(parser, TARGET, DEFAULT_LISTEN)
    parser.set_defaults(handler=decide_command)


def _attribute(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def _channel(text: str) -> Channel:
    try:
        return Channel.parse(text)
    except InvalidRequest as error:
        raise argparse.ArgumentTypeError(error.field_violations[0].description) from None


def _currency(text: str) -> str:
    try:
        return money.currency_code(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def request_for(args: argparse.Namespace) -> pb.DecideRequest:
    """The DecideRequest for the command line, built as the Python client builds it (the same
    currency exponents and checks); UsageError when the order value does not fit its currency."""
    try:
        request = DecisionRequest(
            args.customer_id,
            args.channel,
            intent=args.intent,
            order_value=args.order_value,
            currency=args.currency or "",
            item_count=args.items,
            attributes=dict(args.attr),
            explain=args.explain,
        )
    except InvalidRequest as error:
        (violation,) = error.field_violations
        option = "--currency" if violation.field == "context.currency" else "--order-value"
        raise UsageError(option, violation.description) from None
    message: pb.DecideRequest = messages.decide_request(request)
    return message


def decide_command(args: argparse.Namespace) -> int:
    """Print the decision; exit 1 with the status (and field violations) on an error."""
    request = request_for(args)
    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.EntitlementServiceStub(channel)
        try:
            response = stub.Decide(request, timeout=DEFAULT_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            _print_error(error)
            return 1
    if args.json:
        print_decision_json(response.decision)
    else:
        print_decision(response.decision)
    return 0


def _print_error(error: grpc.RpcError) -> None:
    """The status, then each field violation on its own line (the status message repeats them
    all in one line, so it is not printed when there are violations)."""
    violations = []
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.extend(bad_request.field_violations)
    code = f"[red]{error.code().name}[/red]"
    if not violations:
        errors.print(f"{code}: {escape(error.details() or '')}")
        return
    errors.print(f"{code}: the request is invalid")
    for violation in violations:
        errors.print(f"  {escape(violation.field)}: {escape(violation.description)}")
