"""Policy input benchmark: what hostile values and hostile policy text cost.

Prints figures; it is not a test. In-process, no Redis, no server.

    python bench/policy_input.py              # 200 decisions per value, 3 compiles per policy
    python bench/policy_input.py --repeat 1   # quicker

1. A `matches: "^(a+)+$"` condition on `attributes.note` (exponential for a backtracking engine)
   decided through `Decider.decide` (durable-rules included), per value length: time per decision
   against a policy without the condition, on the same context.
2. Compiling policies: the default one, the largest one allowed (default rules repeated under new
   ids up to MAX_POLICY_BYTES), and refusing an 18-anchor alias bomb, 5,000-deep nesting and
   1 MiB of values as dense as YAML allows (flat, and nested 60 deep), stopped by MAX_VALUES.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context
from tierline_server.policy.errors import PolicyInvalid
from tierline_server.policy.source import MAX_POLICY_BYTES

REPO = Path(__file__).resolve().parents[1]
NOTE_RULE = """
  - id: note-of-as
    when: {attributes.note: {matches: "^(a+)+$"}}
    grant: {perks: [{code: all-as}]}
"""
NOTES = {
    "28 B, no match": "a" * 27 + "!",
    "256 B, no match": "a" * 255 + "!",
    "10 KB, no match": "a" * 10_239 + "!",
    "10 KB, match": "a" * 10_240,
}


def default_text() -> str:
    """The default policy as one document."""
    rules = REPO / "rules"
    return (rules / "policy.yaml").read_text() + "\n" + (rules / "entitlements.yaml").read_text()


def largest_text() -> str:
    """The default rules repeated under new ids, as close to MAX_POLICY_BYTES as they fit."""
    text = default_text()
    rules = (REPO / "rules" / "entitlements.yaml").read_text().split("rules:\n", 1)[1]
    copy = 0
    while True:
        copy += 1
        more = re.sub(r"- id: (\S+)", rf"- id: \1-{copy}", rules)
        if len((text + more).encode()) > MAX_POLICY_BYTES:
            return text
        text += more


def alias_bomb() -> str:
    """18 anchors of nine references each, after the default policy."""
    names = "abcdefghijklmnopqr"
    lines = [f"a: &a [{','.join('x' * 9)}]"]
    lines += [f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in itertools.pairwise(names)]
    return default_text() + "\n".join(lines) + "\n"


def dense(line: str) -> str:
    """A policy of ``line`` repeated up to MAX_POLICY_BYTES: the most values per byte."""
    return "policy: dense\nrules:\n" + line * ((MAX_POLICY_BYTES - 100) // len(line))


def per_call_micros(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and max of ``repeat`` calls, in microseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(times), max(times)


def seconds(call: Callable[[], object]) -> float:
    """Wall time of one call (PolicyInvalid is an outcome, not a failure)."""
    start = time.perf_counter()
    with contextlib.suppress(PolicyInvalid):
        call()
    return time.perf_counter() - start


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200, help="decisions per value")
    parser.add_argument("--repeat", type=int, default=3, help="compiles per policy")
    args = parser.parse_args()

    plain = Decider(compile_policy_text(default_text()))
    noted = Decider(compile_policy_text(default_text().rstrip("\n") + NOTE_RULE))
    features = {"tier": "gold", "tenure_days": 400}
    print("1. matches ^(a+)+$ on attributes.note: Decider.decide per call (µs), p50 / max")
    for label, note in NOTES.items():
        context = Context(channel="phone", attributes={"note": note})
        granted = "all-as" in {p.code for p in noted.decide(features, context).perks}
        base = per_call_micros(partial(plain.decide, features, context), args.decisions)
        with_rule = per_call_micros(partial(noted.decide, features, context), args.decisions)
        print(
            f"   {label:<16} without the rule {base[0]:8.1f} / {base[1]:8.1f}   "
            f"with it {with_rule[0]:8.1f} / {with_rule[1]:8.1f}   granted: {granted}"
        )

    print("2. compiling (s, best of --repeat)")
    largest = largest_text()
    for label, text in [
        (f"default policy ({len(default_text().encode()):,} B)", default_text()),
        (f"largest allowed ({len(largest.encode()):,} B)", largest),
        (f"alias bomb ({len(alias_bomb().encode()):,} B)", alias_bomb()),
        ("5,000-deep nesting", default_text() + "x: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("1 MiB of - [x, x, ...]", dense("- [" + "x, " * 40 + "]\n")),
        ("1 MiB of - [[[...]]] 60 deep", dense("- " + "[" * 60 + "]" * 60 + "\n")),
    ]:
        best = min(seconds(partial(compile_policy_text, text)) for _ in range(args.repeat))
        print(f"   {label:<32} {best:8.3f}")
    print("Other processes on the machine skew these figures: compare rows of one run.")


if __name__ == "__main__":
    main()
