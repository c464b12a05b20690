"""``tierline features load | get | set | delete | demo``: customer features in Redis.

Exit status: 0 done; 1 done, but some rows were rejected (load) or the customer has no features
(get); 2 nothing or not everything done (bad input, invalid policy, Redis unreachable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from redis.exceptions import RedisClusterException, RedisError
from rich.markup import escape
from rich.table import Table

from tierline_server.commands.options import add_policy_option, add_settings, settings_from
from tierline_server.commands.output import (
    console,
    errors,
    load_policy_or_report,
    progress,
    redis_failed,
)
from tierline_server.config import REDIS_CONNECTION, RedisSettings, masked_url
from tierline_server.features import demo, keys, loader
from tierline_server.features.codec import FeatureCodec
from tierline_server.features.records import CustomerRecords
from tierline_server.features.redis_client import writer_client
from tierline_server.policy.compiled import Policy
from tierline_server.policy.inputs import typed_features

DEFAULT_DEMO_COUNT = 10_000
DEFAULT_DEMO_SEED = 1
CUSTOMER_ID_HELP = "the customer, e.g. c000042"


def register(groups: Any) -> None:
    """Add the ``features`` group to the CLI."""
    group = groups.add_parser("features", help="load, inspect and edit customer features in Redis")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser("load", help="segment customers from CSV or JSON Lines into Redis")
    load.add_argument("file", type=Path, help="CSV with a header, or JSON Lines")
    load.add_argument(
        "--format", choices=[f.value for f in loader.InputFormat], help="default: by extension"
    )
    load.add_argument(
        "--keep-tier", action="store_true", help="keep a row's own tier, do not segment it"
    )
    load.add_argument("--replace", action="store_true", help="remove features a row does not give")
    load.add_argument(
        "--rejects", type=Path, help="reject file (default: FILE.rejects.csv beside FILE)"
    )
    load.add_argument(
        "--batch-size",
        type=_positive,
        default=loader.DEFAULT_BATCH_SIZE,
        help=f"rows per round trip (default {loader.DEFAULT_BATCH_SIZE})",
    )
    _add_policy_and_redis_arguments(load)
    load.set_defaults(handler=load_command)

    get = commands.add_parser("get", help="show a customer's stored features")
    get.add_argument("customer_id", help=CUSTOMER_ID_HELP)
    get.add_argument("--json", action="store_true", help="print JSON")
    _add_policy_and_redis_arguments(get)
    get.set_defaults(handler=get_command)

    set_ = commands.add_parser("set", help="write some of a customer's features")
    set_.add_argument("customer_id", help=CUSTOMER_ID_HELP)
    set_.add_argument(
        "assignments",
        nargs="+",
        metavar="FEATURE=VALUE",
        help="features to write, e.g. tier=gold evangelist=true (the others are kept)",
    )
    _add_policy_and_redis_arguments(set_)
    set_.set_defaults(handler=set_command)

    delete = commands.add_parser("delete", help="remove a customer's features")
    delete.add_argument("customer_id", help=CUSTOMER_ID_HELP)
    add_settings(delete, RedisSettings, only=REDIS_CONNECTION)  # no policy needed to delete
    delete.set_defaults(handler=delete_command)

    sample = commands.add_parser("demo", help="write a synthetic customer population as CSV")
    sample.add_argument(
        "--count",
        type=_positive,
        default=DEFAULT_DEMO_COUNT,
        help=f"customers to make (default {DEFAULT_DEMO_COUNT:,})",
    )
    sample.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_DEMO_SEED,
        help=f"the same seed makes the same customers (default {DEFAULT_DEMO_SEED})",
    )
    sample.add_argument("--out", type=Path, required=True, help="CSV file to write ('-': stdout)")
    sample.set_defaults(handler=demo_command)


def _add_policy_and_redis_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_option(parser)
    add_settings(parser, RedisSettings, only=REDIS_CONNECTION)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def load_command(args: argparse.Namespace) -> int:
    """Load a file; print the summary."""
    policy = load_policy_or_report(args.policy)
    if policy is None:
        return 2
    settings = settings_from(RedisSettings, args)
    options = loader.LoadOptions(
        format=loader.InputFormat(args.format) if args.format else None,
        keep_tier=args.keep_tier,
        replace=args.replace,
        batch_size=args.batch_size,
        rejects=args.rejects,
    )
    try:
        with writer_client(settings) as client, _progress_display() as progress:
            summary = loader.load_file(
                args.file,
                policy,
                CustomerRecords(client, settings),
                options=options,
                progress=progress,
            )
    except (RedisError, RedisClusterException) as error:  # connecting to a cluster
        return redis_failed(settings.url, error)
    except (loader.LoadError, OSError) as error:
        errors.print(f"[red]cannot load[/red] {escape(str(args.file))}: {escape(str(error))}")
        return 2
    except loader.LoadInterruptedError as error:
        print_summary(error.summary, policy)
        errors.print(
            f"[red]{escape(str(error))}[/red] ({masked_url(settings.url)}); re-running is safe"
        )
        return 2
    print_summary(summary, policy)
    return 1 if summary.rejected else 0


@contextmanager
def _progress_display() -> Iterator[loader.Progress]:
    """The load's progress: rows read and rejected, and speed."""
    with progress("loading") as update:

        def report(summary: loader.LoadSummary, fraction: float) -> None:
            update(
                fraction,
                f"{summary.read:,} rows read, {summary.rejected:,} rejected, "
                f"{summary.rows_per_second:,.0f} rows/s",
            )

        yield report


def print_summary(summary: loader.LoadSummary, policy: Policy) -> None:
    """The load's counts of rows and of customers per tier, repeated ids, and speed."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column()
    table.add_row("rows read", f"{summary.read:,}", "")
    table.add_row("rows loaded", f"{summary.loaded:,}", "")
    table.add_row("rows rejected", f"{summary.rejected:,}", "")
    if summary.customers is not None:
        table.add_row("customers", f"{summary.customers:,}", "each once, in the tier now stored")
    order = {tier: index for index, tier in enumerate(reversed(policy.tiers))}
    for tier, count in sorted(
        summary.tiers.items(), key=lambda item: order.get(item[0], len(order))
    ):
        table.add_row(f"  {tier or '(no tier)'}", f"{count:,}", "")
    if summary.duplicates:
        examples = ", ".join(summary.duplicate_examples)
        table.add_row(
            "[yellow]repeated ids[/yellow]",
            f"{summary.duplicates:,}",
            escape(f"rows whose customer id came earlier (e.g. {examples}): the last row wins"),
        )
    table.add_row("rows/s", f"{summary.rows_per_second:,.0f}", f"in {summary.seconds:.1f} s")
    console.print(table)
    if summary.rejects_path is not None:
        console.print(f"rejected rows, with line and reason: {escape(str(summary.rejects_path))}")


def get_command(args: argparse.Namespace) -> int:
    """Show what is stored for a customer and how the policy reads it."""
    policy = load_policy_or_report(args.policy)
    if policy is None:
        return 2
    settings = settings_from(RedisSettings, args)
    if not _valid_id(args.customer_id):
        return 2
    try:
        with writer_client(settings) as client:
            stored = CustomerRecords(client, settings).read(args.customer_id)
    except (RedisError, RedisClusterException) as error:
        return redis_failed(settings.url, error)
    if not stored:
        errors.print(f"no features for {escape(args.customer_id)}: the tier is unknown")
        return 1
    decoded = FeatureCodec(policy.features).decode_hash(stored)
    others = {
        name.decode(errors="replace"): value.decode(errors="replace")
        for name, value in stored.items()
        if name.decode(errors="replace") not in (*policy.features, keys.UPDATED_FIELD)
    }
    age = time.time() - decoded.updated if decoded.updated is not None else None
    if args.json:
        data = {
            "customer_id": args.customer_id,
            "features": dict(decoded.features),
            "undecodable": list(decoded.undecodable),
            "not_in_policy": others,
            "updated": decoded.updated,
            "age_seconds": age,
        }
        console.print_json(json.dumps(data))
        return 0
    key = keys.customer_key(settings.key_prefix, args.customer_id)
    table = Table(title=f"{args.customer_id} ({key})")
    for column in ("feature", "value", "stored", "note"):
        table.add_column(column)
    for name, spec in policy.features.items():
        # Values as the policy writes them (gold, true, 12.5), not as Python reprs them.
        raw = stored.get(name.encode())
        if name in decoded.features:
            value = escape(spec.encode(decoded.features[name]))
            table.add_row(name, value, escape(raw.decode()) if raw else "", "")
        elif raw is None:
            table.add_row(name, escape(spec.encode(spec.default)), "", "not stored: default")
        else:
            shown = escape(raw.decode(errors="replace"))
            default = escape(spec.encode(spec.default))
            table.add_row(name, default, shown, "[red]undecodable[/red]: default")
    for name, value in others.items():
        table.add_row(escape(name), "", escape(value), "not in the policy: ignored")
    if decoded.updated is not None and age is not None:
        when = datetime.fromtimestamp(decoded.updated, tz=timezone.utc).isoformat(
            timespec="seconds"
        )
        table.caption = f"updated {when} ({age:,.0f} s ago)"
    console.print(table)
    return 0


def set_command(args: argparse.Namespace) -> int:
    """Write the given features (others are kept) and tell running services."""
    policy = load_policy_or_report(args.policy)
    if policy is None:
        return 2
    settings = settings_from(RedisSettings, args)
    if not _valid_id(args.customer_id):
        return 2
    malformed = [item for item in args.assignments if "=" not in item]
    if malformed:
        errors.print(f"[red]expected FEATURE=VALUE[/red], got {escape(', '.join(malformed))}")
        return 2
    try:
        typed = typed_features(policy, dict(item.split("=", 1) for item in args.assignments))
    except ValueError as error:
        errors.print(f"[red]invalid:[/red] {escape(str(error))}")
        return 2
    encoded = {name: policy.features[name].encode(value) for name, value in typed.items()}
    try:
        with writer_client(settings) as client:
            CustomerRecords(client, settings).write(args.customer_id, encoded)
    except (RedisError, RedisClusterException) as error:
        return redis_failed(settings.url, error)
    shown = ", ".join(f"{name}={value}" for name, value in encoded.items())
    console.print(f"set {escape(shown)} for {escape(args.customer_id)}")
    return 0


def delete_command(args: argparse.Namespace) -> int:
    """Remove a customer's features (they become the unknown tier) and tell running services."""
    settings = settings_from(RedisSettings, args)
    if not _valid_id(args.customer_id):
        return 2
    try:
        with writer_client(settings) as client:
            deleted = CustomerRecords(client, settings).delete(args.customer_id)
    except (RedisError, RedisClusterException) as error:
        return redis_failed(settings.url, error)
    what = "deleted" if deleted else "nothing stored for"
    console.print(f"{what} {escape(args.customer_id)}")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """Write the synthetic population."""
    if str(args.out) == "-":
        demo.write_demo(sys.stdout, args.count, args.seed)
        return 0
    with args.out.open("w", newline="") as out:
        demo.write_demo(out, args.count, args.seed)
    errors.print(f"wrote {args.count:,} customers (seed {args.seed}) to {escape(str(args.out))}")
    return 0


def _valid_id(customer_id: str) -> bool:
    if keys.is_customer_id(customer_id):
        return True
    errors.print(f"[red]invalid:[/red] {escape(str(keys.InvalidCustomerIdError(customer_id)))}")
    return False
