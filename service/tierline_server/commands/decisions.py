"""``tierline decisions tail | get | export``: read the decision log back.

Exit status: 0 done; 1 the decision was not found (get); 2 bad input or Redis unreachable.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import msgspec
from redis.exceptions import RedisClusterException, RedisError
from rich.markup import escape
from tierline import money

from tierline_server.api import mapping
from tierline_server.commands.log_span import LOG_REDIS_OPTIONS, read_log
from tierline_server.commands.options import (
    add_policy_option,
    add_settings,
    argument,
    settings_from,
)
from tierline_server.commands.output import (
    console,
    errors,
    load_policy_or_report,
    perk_label,
    print_decision,
    print_table,
    progress,
    redis_failed,
    routing_text,
)
from tierline_server.config import (
    DECISION_LOG_READING,
    INSTANT_RULE,
    DecisionLogSettings,
    RedisSettings,
    SettingError,
    instant,
    non_negative_int,
    seconds,
)
from tierline_server.decisionlog.customers import CustomerNames, customer_key
from tierline_server.decisionlog.reader import DecisionLogReader, Entry
from tierline_server.decisionlog.record import DecisionRecord, iso_time
from tierline_server.features.redis_client import writer_client
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Entitlement
from tierline_server.policy.domain import Decision
from tierline_server.policy.inputs import readable_features

DEFAULT_TAIL_LINES = 10
FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "decision_id", "time", "method", "caller", "customer", "customer_hashed",
    "channel", "intent", "order_value", "currency", "item_count", "attributes",
    "features", "feature_source", "features_age_seconds",
    "tier", "service_level", "max_wait_seconds", "first_response_seconds", "callback_offered",
    "human_agent_guaranteed", "perks", "queue", "priority", "skills", "matched_rules",
    "policy_version", "degraded_reason", "lookup_micros", "eval_micros", "total_micros", "shadow",
)  # fmt: skip
"""One row per decision; maps (attributes, features) and the shadow decision as JSON, lists
space-separated, a perk as code or code:value."""


def register(groups: Any) -> None:
    """Add the ``decisions`` group to the CLI."""
    group = groups.add_parser("decisions", help="read the decision log (a Redis Stream)")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tail = commands.add_parser("tail", help="the latest decisions, then new ones as they come")
    tail.add_argument(
        "-n",
        "--lines",
        type=argument(non_negative_int),
        default=DEFAULT_TAIL_LINES,
        help="latest shown",
    )
    tail.add_argument("--no-follow", action="store_true", help="stop after the latest")
    tail.add_argument("--customer", help="only this customer's decisions (an id)")
    tail.add_argument("--level", help="only decisions at this service level")
    tail.add_argument("--degraded", action="store_true", help="only degraded decisions")
    tail.add_argument("--rule", help="only decisions where this rule matched")
    tail.add_argument("--json", action="store_true", help="print each record as stored (JSON)")
    _add_log_arguments(tail)
    tail.set_defaults(handler=tail_command)

    get = commands.add_parser("get", help="one decision: the whole record, and why")
    get.add_argument("decision_id", help="the decision's id, as its answer and the log show it")
    get.add_argument(
        "--within",
        type=argument(seconds),
        default=300.0,
        help="seconds around the decision's time to search the stream (default 300)",
    )
    get.add_argument("--json", action="store_true", help="print the record as stored (JSON)")
    add_policy_option(get)
    _add_log_arguments(get)
    get.set_defaults(handler=get_command)

    export = commands.add_parser("export", help="every decision of a time span, streamed")
    export.add_argument(
        "--since", type=argument(instant), required=True, help=f"made from: {INSTANT_RULE}"
    )
    export.add_argument("--until", type=argument(instant), help="up to (default: now)")
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl: records as stored; csv: one column per field (default jsonl)",
    )
    export.add_argument("--out", default="-", help="file to write ('-', the default: stdout)")
    _add_log_arguments(export)
    export.set_defaults(handler=export_command)


def _add_log_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, RedisSettings, only=LOG_REDIS_OPTIONS)
    add_settings(parser, DecisionLogSettings, only=DECISION_LOG_READING)


@contextmanager
def _reader(args: argparse.Namespace) -> Iterator[DecisionLogReader]:
    redis = settings_from(RedisSettings, args)
    log = settings_from(DecisionLogSettings, args)
    with writer_client(redis) as client:
        yield DecisionLogReader(client, log.stream)


def _redis_url(args: argparse.Namespace) -> str:
    return str(settings_from(RedisSettings, args).url)


# --- tail ---------------------------------------------------------------------------------------


def tail_command(args: argparse.Namespace) -> int:
    """Print the latest wanted decisions, one line each, then follow (until Ctrl-C)."""
    show: Callable[[Entry], None] = _print_json if args.json else _print_line
    try:
        wanted = _filter(args)
        with _reader(args) as reader:
            try:
                latest, newest = reader.latest(args.lines, wanted)
                for entry in latest:
                    show(entry)
                if not args.no_follow:
                    for entry in reader.follow(newest, wanted):
                        show(entry)
            except KeyboardInterrupt:
                pass
            _report_skipped(reader)
    except SettingError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    except (RedisError, RedisClusterException) as error:
        return redis_failed(_redis_url(args), error)
    return 0


def _filter(args: argparse.Namespace) -> Callable[[DecisionRecord], bool]:
    """The records the filters let through; SettingError when a customer id cannot be matched."""
    customer: str | None = None
    hashed = False
    if args.customer is not None:
        names = CustomerNames(customer_key(settings_from(DecisionLogSettings, args)))
        customer, hashed = names.name(args.customer), names.hashed

    def wanted(record: DecisionRecord) -> bool:
        decision = record.decision
        if customer is not None:
            if record.customer_hashed and not hashed:
                raise SettingError(
                    "the log holds keyed hashes of customer ids: give the key "
                    "(TIERLINE_DECISION_LOG_CUSTOMER_KEY or --decision-log-customer-key-file) "
                    "to find a customer's decisions"
                )
            if record.outcome.customer_id != customer:
                return False
        return (
            (args.level is None or decision.service_level.name == args.level)
            and (not args.degraded or decision.degraded)
            and (args.rule is None or args.rule in decision.matched_rules)
        )

    return wanted


def _print_line(entry: Entry) -> None:
    record = entry.record
    decision = record.decision
    perks = ", ".join(perk.code for perk in decision.perks) or "-"
    line = (
        f"{record.time}  {record.decision_id}  {record.outcome.customer_id}  {decision.tier}  "
        f"{decision.service_level.name}  {decision.routing.queue}({decision.routing.priority})  "
        f"perks: {perks}  rules: {', '.join(decision.matched_rules) or '-'}"
    )
    console.print(
        escape(line)
        + (f"  [red]degraded: {decision.degraded_reason}[/red]" if decision.degraded else "")
    )


def _print_json(entry: Entry) -> None:
    print(entry.data.decode(), flush=True)


def _report_skipped(reader: DecisionLogReader) -> None:
    if reader.skipped:
        errors.print(f"{reader.skipped:,} entries of the stream are not decision records (skipped)")


# --- get ----------------------------------------------------------------------------------------


def get_command(args: argparse.Namespace) -> int:
    """Print one decision: the record, and why each rule matched (replayed with --policy)."""
    try:
        with _reader(args) as reader:
            entry = reader.find(args.decision_id, args.within)
    except ValueError as error:
        errors.print(f"[red]invalid:[/red] {escape(str(error))}")
        return 2
    except (RedisError, RedisClusterException) as error:
        return redis_failed(_redis_url(args), error)
    if entry is None:
        errors.print(
            f"decision {escape(args.decision_id)} is not in the log (searched the entries "
            f"written within {args.within:g} s of its time; it may have been sampled out, "
            "trimmed or dropped)"
        )
        return 1
    if args.json:
        print(json.dumps(json.loads(entry.data), indent=2))
        return 0
    record = entry.record
    explained, note = _explain(record, args.policy)
    outcome = dataclasses.replace(record.outcome, decision=explained)
    print_decision(mapping.outcome_message(outcome))
    print_table(f"Logged {record.time} ({record.method})", _record_rows(record))
    console.print(note)
    return 0


def _explain(record: DecisionRecord, policy_path: str) -> tuple[Decision, str]:
    """The logged decision with the explanation of a replay by the policy at ``policy_path``
    (when the replay decides the same), and a line saying what the replay found."""
    decision = record.decision
    policy = load_policy_or_report(policy_path)
    if policy is None:
        return decision, f"no explanation: the policy at {escape(policy_path)} has errors"
    replayed = Decider(policy).decide(
        readable_features(policy, record.outcome.features),
        record.context,
        degraded=record.degraded,
        explain=True,
    )
    replay = f"replayed with {escape(policy_path)} ({escape(policy.name)} {escape(policy.version)}"
    if policy.version != decision.policy_version:
        replay += f"; the decision was made by {escape(decision.policy_version)}"
    replay += ")"
    same = replayed.matched_rules == decision.matched_rules and Entitlement.of(
        replayed
    ) == Entitlement.of(decision)
    if same:
        explained = dataclasses.replace(decision, explanation=replayed.explanation)
        return explained, f"why: {replay}, which decides the same"
    return decision, (
        f"[yellow]no explanation:[/yellow] {replay}, which decides otherwise: "
        f"{escape(decision_summary(replayed))}"
    )


def decision_summary(decision: Decision) -> str:
    """A decision in one line: level, routing, perks and matched rules."""
    routing = decision.routing
    perks = ", ".join(perk.code for perk in decision.perks) or "none"
    return (
        f"{decision.service_level.name}, {routing_text(routing.queue, routing.priority, ())}, "
        f"perks {perks}, rules {', '.join(decision.matched_rules) or 'none'}"
    )


def _amount(minor: int, currency: str) -> str:
    """An order value as people read it (60.00 EUR); minor units for a code ISO 4217 does not
    list (a record the service would refuse today)."""
    try:
        return money.major_text(minor, currency)
    except ValueError:
        return f"{minor} {currency} (minor units)"


def _record_rows(record: DecisionRecord) -> list[tuple[str, str]]:
    outcome, context = record.outcome, record.context
    hashed = " (keyed hash)" if record.customer_hashed else ""
    order = (
        "no order"
        if context.order_value is None
        else f"order {_amount(context.order_value, context.currency)}"
    )
    shown = (
        f"{context.channel}, intent {context.intent or '-'}, {order}, {context.item_count} items"
    )
    rows = [
        ("caller", record.caller or "(not authenticated)"),
        ("customer", escape(outcome.customer_id + hashed)),
        ("context", escape(shown)),
    ]
    rows += [(f"attribute {escape(k)}", escape(v)) for k, v in context.attributes.items()]
    features = ", ".join(f"{name}={value!r}" for name, value in outcome.features.items())
    source = outcome.feature_source.value
    if outcome.features_age_seconds is not None:
        source += f", {outcome.features_age_seconds:.0f} s old"
    rows.append(("features", f"{escape(features or '(none)')} [dim]from {source}[/dim]"))
    if record.shadow is not None:
        rows.append(
            (
                f"shadow {escape(record.shadow.policy_version)}",
                escape(decision_summary(record.shadow)),
            )
        )
    return rows


# --- export -------------------------------------------------------------------------------------


def export_command(args: argparse.Namespace) -> int:
    """Write every decision made in the span, as JSON Lines or CSV, with a progress display."""
    written = 0
    try:
        with (
            progress("exporting") as update,
            read_log(args, update) as span,
            _output(args.out) as out,
        ):
            write = _jsonl_writer(out) if args.format == "jsonl" else _csv_writer(out)
            for entry in span.entries:
                write(entry)
                written += 1
    except (RedisError, RedisClusterException) as error:
        return redis_failed(_redis_url(args), error)
    except OSError as error:
        errors.print(f"[red]cannot write[/red] {escape(args.out)}: {escape(str(error))}")
        return 2
    errors.print(
        f"exported {written:,} decisions made from {iso_time(span.since)} to {iso_time(span.until)}"
    )
    _report_skipped(span.reader)
    return 0


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout
        return
    with Path(path).open("w", newline="") as out:
        yield out


def _jsonl_writer(out: IO[str]) -> Callable[[Entry], None]:
    def write(entry: Entry) -> None:
        out.write(entry.data.decode())
        out.write("\n")

    return write


def _csv_writer(out: IO[str]) -> Callable[[Entry], None]:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def write(entry: Entry) -> None:
        writer.writerow(csv_row(entry.record))

    return write


def csv_row(record: DecisionRecord) -> tuple[Any, ...]:
    """A record as a row of CSV_COLUMNS."""
    outcome, context, decision = record.outcome, record.context, record.decision
    level, routing = decision.service_level, decision.routing
    return (
        record.decision_id, record.time, record.method, record.caller, outcome.customer_id,
        record.customer_hashed, context.channel, context.intent,
        "" if context.order_value is None else context.order_value, context.currency,
        context.item_count, _json(context.attributes), _json(outcome.features),
        outcome.feature_source.value,
        "" if outcome.features_age_seconds is None else outcome.features_age_seconds,
        decision.tier, level.name, level.sla.max_wait_seconds, level.sla.first_response_seconds,
        level.sla.callback_offered, level.sla.human_agent_guaranteed,
        " ".join(perk_label(perk.code, perk.amount, perk.percent) for perk in decision.perks),
        routing.queue, routing.priority, " ".join(routing.skills),
        " ".join(decision.matched_rules), decision.policy_version, decision.degraded_reason,
        outcome.lookup_micros, outcome.eval_micros, outcome.total_micros,
        "" if record.shadow is None else _json(record.shadow),
    )  # fmt: skip


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
