"""A call-center desk asks Tierline, mid-call, where each contact goes and what the agent may offer.

A stream of incoming contacts (phone, chat, social, e-mail; billing, outage, cancel, ...) is
decided one by one: the queue and priority, the SLA, the perks the agent may offer, and how long
the decision took. Start the service with ``make run``, then in another terminal::

    .venv/bin/python clients/examples/call_center.py                 # 60 contacts, 4 a second
    .venv/bin/python clients/examples/call_center.py --contacts 20 --interval 0

Stop ``make run`` (Ctrl-C) while this runs: within the 50 ms deadline each decision becomes the
baseline (marked FALLBACK) and the calls go on; start it again and Tierline's decisions return.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from tierline import (
    Baseline,
    Channel,
    Decision,
    EntitlementClient,
    Perk,
    Routing,
    ServiceLevel,
    ServiceUnavailable,
    Sla,
)

CHANNELS = [Channel.PHONE, Channel.PHONE, Channel.CHAT, Channel.SOCIAL, Channel.EMAIL]
INTENTS = ["support", "billing", "outage", "cancel", "complaint", "purchase"]

# What the desk falls back on if it has never reached Tierline (once it has, the client uses the
# baseline the service publishes). Mirrors the default policy's baseline in rules/policy.yaml.
DESK_BASELINE = Baseline(
    service_level=ServiceLevel(
        "standard",
        0,
        Sla(max_wait_seconds=600, callback_offered=True, human_agent_guaranteed=True),
    ),
    routing=Routing("general", 10),
)


@dataclass(frozen=True)
class Contact:
    """One incoming contact."""

    number: int
    customer_id: str
    channel: Channel
    intent: str


def contacts(count: int, customers: int, seed: int) -> Iterator[Contact]:
    """``count`` contacts from demo customers (``c000001`` ...) and a few prospects."""
    rng = random.Random(seed)
    for number in range(1, count + 1):
        if rng.random() < 0.15:
            customer_id = f"prospect-{rng.randrange(10_000):04d}"
        else:
            customer_id = f"c{rng.randrange(1, customers + 1):06d}"
        yield Contact(number, customer_id, rng.choice(CHANNELS), rng.choice(INTENTS))


def offer(perk: Perk) -> str:
    """A perk as the agent sees it."""
    if perk.percent is not None:
        return f"{perk.code} {perk.percent:g}%"
    if perk.amount_minor is not None:
        return f"{perk.code} {perk.amount_minor / 100:.2f}"
    return perk.code


def sla(decision: Decision) -> str:
    """The SLA in a few words."""
    terms = decision.service_level.sla
    parts = [f"wait<={terms.max_wait_seconds}s"]
    if terms.callback_offered:
        parts.append("callback")
    if terms.human_agent_guaranteed:
        parts.append("human")
    return " ".join(parts)


HEADER = (
    f"{'#':>3}  {'channel':<7} {'intent':<9} {'customer':<13} {'tier':<8} {'level':<9} "
    f"{'queue':<16} {'prio':>4}  {'SLA':<24} {'ms':>6}  agent may offer"
)


def row(contact: Contact, decision: Decision) -> str:
    """One line of the desk's log."""
    offers = ", ".join(offer(perk) for perk in decision.perks) or "-"
    tier = "FALLBACK" if decision.is_fallback else decision.tier
    return (
        f"{contact.number:>3}  {contact.channel.name.lower():<7} {contact.intent:<9} "
        f"{contact.customer_id:<13} {tier:<8} {decision.service_level.name:<9} "
        f"{decision.routing.queue:<16} {decision.routing.priority:>4}  {sla(decision):<24} "
        f"{decision.latency * 1000:>6.1f}  {offers}"
    )


def main(argv: list[str] | None = None) -> int:
    """Decide a stream of contacts and print a summary; exit 0 when all were answered."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="Tierline's gRPC address")
    parser.add_argument("--contacts", type=int, default=60, help="how many contacts")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between contacts")
    parser.add_argument("--customers", type=int, default=20_000, help="demo customers to pick")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=0.05, help="deadline per decision, s")
    args = parser.parse_args(argv)
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with EntitlementClient(args.target, timeout=args.timeout, baseline=DESK_BASELINE) as client:
        try:
            policy = client.policy()  # warm up: connect and cache the published baseline
            print(f"Tierline at {args.target}: policy {policy.name} {policy.version}")
        except ServiceUnavailable as error:
            reason = error.code.name if error.code else "unreachable"
            print(f"Tierline at {args.target} is not answering ({reason}): the desk's baseline")
        print(HEADER)
        latencies = []
        for contact in contacts(args.contacts, args.customers, args.seed):
            decision = client.decide(contact.customer_id, contact.channel, intent=contact.intent)
            latencies.append(decision.latency)
            print(row(contact, decision), flush=True)
            time.sleep(args.interval)
        fallbacks = client.fallback_count

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(
        f"\n{len(latencies)} contacts: {len(latencies) - fallbacks} decided by Tierline,"
        f" {fallbacks} baseline fallbacks; latency p50 {statistics.median(latencies) * 1000:.1f}"
        f" ms, p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
