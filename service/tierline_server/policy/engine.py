"""The rule engine: the one module that imports durable-rules.

Each policy becomes one durable-rules ruleset with one rule per policy rule. A decision asserts a
single fact (every field the policy reads, in short slot names), collects which rules fired, and
deletes the session, so nothing accumulates. durable-rules is not thread-safe, so every call into
it holds one process-wide lock; and a registered ruleset cannot be replaced or deleted safely, so a
new policy registers under a new name and the old one is simply no longer used.

A money comparison reads two slots: whether the order's currency has a threshold in it, and that
threshold. It holds only when the first is true, so an order in another currency matches neither
the comparison nor its negation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import platform
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

from tierline_server import engine_build
from tierline_server.policy import conditions
from tierline_server.policy.conditions import All, AnyOf, Compare, Condition, MoneyCompare
from tierline_server.policy.domain import Facts
from tierline_server.policy.errors import EngineUnavailable

_SESSION_ID = "0"
"""One session id, reused: each session is deleted right after its decision (flat memory)."""

_ENGINE_LOCK = threading.Lock()
_RULESET_NAMES = itertools.count(1)

# glibc's default trim/mmap thresholds make durable-rules return and re-map memory on every
# evaluation (~50 us each). Raising them is what MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_
# do; setting them here gives every process the gain however it was started.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024
_MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def _tune_malloc() -> None:
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    libc = ctypes.CDLL(libc_name)
    if hasattr(libc, "mallopt"):  # glibc only
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


@cache
def _durable() -> Any:
    """Import durable-rules once, with a clear error where it cannot load."""
    try:
        from durable import engine
    except ImportError as error:  # e.g. 3.13, source built unchanged: undefined PyEval_CallObject
        raise EngineUnavailable(
            f"the rule engine ({engine_build.ENGINE} {engine_build.VERSION}) cannot load on Python "
            f"{platform.python_version()}: {error}. Build and install it for this Python with: "
            f"{engine_build.install_command()}"
        ) from error
    _tune_malloc()
    return engine


@cache
def _host() -> Any:
    """One durable-rules Host per process, without its background dispatch threads.

    Host() starts timers that call into the engine from other threads every 200 ms (for timers
    and queued actions, which Tierline does not use); with them running, the engine would be
    used by two threads at once, which crashes it.
    """

    class _QuietHost(_durable().Host):  # type: ignore[misc]
        def _run(self) -> None:
            pass

    return _QuietHost()


class _Slots:
    """Maps what a condition reads to short names in the asserted fact."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str, Any], str] = {}
        self.readers: list[tuple[str, Callable[[Facts], Any]]] = []

    def slot(self, kind: str, field: str, detail: Any = None) -> str:
        """The slot of a field's value ("v"), its presence ("p"), a match of the regular
        expression ``detail`` ("m"); for the money leaf ``detail``, whether it has a threshold
        for the order's currency ("k") and that threshold ("t", 0 when it has none)."""
        key = (kind, field, detail)
        if key not in self._names:
            name = self._names[key] = f"{kind}{len(self._names)}"
            self.readers.append((name, _reader(kind, field, detail)))
        return self._names[key]


def _reader(kind: str, field: str, detail: Any) -> Callable[[Facts], Any]:
    if kind == "p":
        return lambda facts: field in facts.present
    if kind == "m":
        leaf = Compare(field, "matches", detail)
        return lambda facts: conditions.leaf_holds(leaf, facts)
    if kind == "k":
        return lambda facts: conditions.threshold(detail, facts) is not None
    if kind == "t":
        return lambda facts: conditions.threshold(detail, facts) or 0
    return lambda facts: facts.values[field]


_COMPARISONS = {"ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def _to_durable(condition: Condition, slots: _Slots) -> dict[str, Any]:
    """Translate a normalised condition (no Not) into a durable-rules expression."""
    if isinstance(condition, All | AnyOf):
        parts = [_to_durable(item, slots) for item in condition.items]
        if len(parts) == 1:
            return parts[0]
        return {"$and" if isinstance(condition, All) else "$or": parts}
    if isinstance(condition, MoneyCompare):
        # A leaf and its negation share the slots: only the operator differs. (A slot left out
        # of the fact would not do: durable-rules holds `$and`s whose `$m` names no property.)
        thresholds = replace(condition, op="")
        named = slots.slot("k", condition.field, thresholds)
        threshold = slots.slot("t", condition.field, thresholds)
        amount = slots.slot("v", condition.field)
        return {"$and": [{named: True}, {_COMPARISONS[condition.op]: {amount: {"$m": threshold}}}]}
    if not isinstance(condition, Compare):
        raise TypeError(f"condition is not normalised: {condition!r}")
    op, value = condition.op, condition.value
    if op == "exists":
        return {slots.slot("p", condition.field): value}
    if op in ("matches", "not_matches"):
        return {slots.slot("m", condition.field, value): op == "matches"}
    name = slots.slot("v", condition.field)
    if op in ("in", "not_in"):
        if op == "in":
            return _either([{name: item} for item in value], "$or")
        return _either([{"$neq": {name: item}} for item in value], "$and")
    if op == "eq":
        return {name: value}
    return {_COMPARISONS[op]: {name: value}}


def _either(parts: list[dict[str, Any]], joiner: str) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {joiner: parts}


class RuleEngine:
    """A sequence of (rule id, condition) registered as one durable-rules ruleset."""

    def __init__(self, rules: Sequence[tuple[str, Condition]]) -> None:
        self.rule_ids = tuple(rule_id for rule_id, _ in rules)
        self._slots = _Slots()
        self._fired: list[int] = []
        definition = {
            f"r{index}": {
                "all": [{"m": _to_durable(condition, self._slots)}],
                "run": self._recorder(index),
            }
            for index, (_, condition) in enumerate(rules)
        }
        self._name = f"tierline-{next(_RULESET_NAMES)}"
        with _ENGINE_LOCK:
            self._durable = _durable()
            self._host = _host()
            if definition:
                self._host.register_rulesets({self._name: definition})

    def _recorder(self, index: int) -> Callable[[Any], None]:
        def fired(_closure: Any) -> None:
            self._fired.append(index)

        return fired

    def fact(self, facts: Facts) -> dict[str, Any]:
        """The one fact asserted for a decision: every slot the rules read, except those that
        read None (a money threshold for a currency it does not name): no comparison with a
        missing property holds."""
        fact = {
            name: value for name, read in self._slots.readers if (value := read(facts)) is not None
        }
        fact["sid"] = _SESSION_ID
        return fact

    def matched(self, facts: Facts) -> list[str]:
        """The ids of the rules whose conditions hold, in policy order."""
        if not self.rule_ids:
            return []
        fact = self.fact(facts)
        with _ENGINE_LOCK:
            self._fired.clear()
            try:
                self._host.assert_fact(self._name, fact)
            except self._durable.MessageNotHandledException:
                pass  # no rule matched: the baseline alone applies, and no session was kept
            else:
                # Only a handled fact leaves a session; deleting one that was never created
                # crashes durable-rules (segfault on a fresh ruleset).
                self._host.delete_state(self._name, _SESSION_ID)
            # An `$or` fires once per branch that holds: each rule counts once.
            fired = sorted(set(self._fired))
        return [self.rule_ids[index] for index in fired]
