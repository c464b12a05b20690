"""``tierline decide``: ask a running service for a decision, as a table or canonical JSON."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.markup import escape
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

from tierline_server.commands.connect import add_connection_options, open_channel
from tierline_server.commands.output import errors, print_decision, print_decision_json

MINOR_UNITS = 2
"""Decimal places of --order-value (cents); currencies with other exponents pass minor units."""
DEFAULT_TIMEOUT_SECONDS = 5.0


def register(groups: Any) -> None:
    """Add ``decide`` to the CLI."""
    parser = groups.add_parser("decide", help="ask a running service for a decision")
    parser.add_argument("customer_id")
    parser.add_argument("--channel", required=True, help="phone, chat, email, social, web, ...")
    parser.add_argument("--intent", default="", help="support, billing, cancel, purchase, ...")
    parser.add_argument("--order-value", type=_amount, help="order value, e.g. 59.90")
    parser.add_argument("--currency", default="", help="ISO 4217 code, e.g. EUR")
    parser.add_argument("--items", type=int, default=0, help="item count")
    parser.add_argument(
        "--attr", action="append", default=[], type=_attribute, help="attribute key=value"
    )
    parser.add_argument("--explain", action="store_true", help="show why each rule matched")
    parser.add_argument("--json", action="store_true", help="print protobuf's canonical JSON")
    add_connection_options(parser)
    parser.set_defaults(handler=decide_command)


def _attribute(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def _amount(text: str) -> int:
    try:
        value = Decimal(text).scaleb(MINOR_UNITS)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"{text} has more than {MINOR_UNITS} decimals")
    return int(value)


def request_for(args: argparse.Namespace) -> pb.DecideRequest:
    """The DecideRequest for the command line."""
    attributes = dict(args.attr)
    context = pb.InteractionContext(
        channel=_channel(args.channel),
        intent=args.intent,
        currency=args.currency,
        item_count=args.items,
        attributes=attributes,
    )
    if args.order_value is not None:
        context.order_value_minor = args.order_value
    return pb.DecideRequest(customer_id=args.customer_id, context=context, explain=args.explain)


def _channel(name: str) -> str:
    """The Channel enum name for a name; an unknown one is sent as UNSPECIFIED, for the service
    to explain what is wrong with it."""
    enum_name = f"CHANNEL_{name.upper()}"
    return enum_name if enum_name in pb.Channel.keys() else "CHANNEL_UNSPECIFIED"  # noqa: SIM118


def decide_command(args: argparse.Namespace) -> int:
    """Print the decision; exit 1 with the status (and field violations) on an error."""
    with open_channel(args) as channel:
        stub = pb_grpc.EntitlementServiceStub(channel)
        try:
            response = stub.Decide(request_for(args), timeout=DEFAULT_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            _print_error(error)
            return 1
    if args.json:
        print_decision_json(response.decision)
    else:
        print_decision(response.decision)
    return 0


def _print_error(error: grpc.RpcError) -> None:
    errors.print(f"[red]{error.code().name}[/red]: {escape(error.details() or '')}")
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            for violation in bad_request.field_violations:
                errors.print(f"  {escape(violation.field)}: {escape(violation.description)}")
