"""Rule conditions: parsed from YAML, type-checked, normalised, evaluated.

A condition is a tree of ``All`` / ``Any`` / ``Not`` over ``Compare`` and ``MoneyCompare``
leaves. The engine compiles the tree to durable-rules; ``holds`` evaluates the same tree in
Python, for segmentation (where speed per row matters more than the engine) and to explain which
part of a rule held.

YAML forms::

    {tier: gold}                         equality
    {ltv: {gte: 20000, lt: 50000}}       operators (several: all must hold)
    {all: [...]}  {any: [...]}  {not: {...}}
    {tier: gold, intent: cancel}         several keys: all must hold
    {order_value: {gte: {EUR: 50, JPY: 8000}}}
                                         money: a threshold per currency, in major units

Money never compares across currencies: an order in a currency that a money comparison does
not name (or no order at all) satisfies neither the comparison nor its negation, so ``not``
cannot turn "no threshold for this currency" into a match.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeAlias

import re2
from tierline import money

from tierline_server.policy.domain import Facts
from tierline_server.policy.schema import fits_engine

OPERATORS = ("eq", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "matches")
"""Operators a policy may write; ``ne`` and ``not_matches`` arise only from pushing ``not`` down."""

_NEGATED = {
    "eq": "ne",
    "ne": "eq",
    "in": "not_in",
    "not_in": "in",
    "gt": "lte",
    "lte": "gt",
    "gte": "lt",
    "lt": "gte",
    "matches": "not_matches",
    "not_matches": "matches",
}

_OPERATORS_BY_TYPE = {
    "enum": {"eq", "in", "not_in", "exists"},
    "string": {"eq", "in", "not_in", "matches", "exists"},
    "int": {"eq", "in", "not_in", "gt", "gte", "lt", "lte", "exists"},
    "number": {"eq", "in", "not_in", "gt", "gte", "lt", "lte", "exists"},
    "bool": {"eq", "exists"},
    "money": {"gt", "gte", "lt", "lte", "exists"},
}

_RANGE_HINT = {
    "number": " (numbers: at most 4 decimals, magnitude below 10^15)",
    "int": " (integers: 64-bit)",
}

MAX_PATTERN_MEMORY_BYTES = 1024 * 1024
"""What RE2 may spend on one ``matches`` pattern: its compiled program and its matching cache.

A pattern that needs more (``\\pL{1000}``, a 100 KB literal) does not compile; the default policy's
patterns need a few KB. Past the cache, RE2 matches more slowly but still in linear time.
"""

_REGEX_RULES = (
    "RE2 syntax: no backreferences or lookaround; "
    f"at most {MAX_PATTERN_MEMORY_BYTES // 1024**2} MiB compiled"
)

_UNKNOWN_FIELD_HINT = "declare it under `features`, or use a context field or attributes.<key>"

_MONEY_HINT = "a threshold per currency in major units, e.g. {gte: {EUR: 50, USD: 55, JPY: 8000}}"

_SYMBOLS = {
    "eq": "==",
    "ne": "!=",
    "in": "in",
    "not_in": "not in",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "matches": "matches",
    "not_matches": "does not match",
}


@dataclass(frozen=True)
class FieldType:
    """The type of a field a condition can read.

    A ``money`` field is an amount in minor units of the currency held by ``currency_field``.
    """

    type: str
    values: tuple[str, ...] | None = None
    currency_field: str = ""

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is a constant of this type."""
        if self.type in ("enum", "string"):
            return isinstance(value, str) and (self.values is None or value in self.values)
        if self.type == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return (self.type == "number" or isinstance(value, int)) and fits_engine(value)


@dataclass(frozen=True)
class Compare:
    """A leaf: ``field op value``."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class MoneyCompare:
    """A money leaf: ``field op threshold`` where the threshold is that of the order's currency.

    ``thresholds`` are (ISO 4217 code, minor units) pairs. An order whose currency has no
    threshold here, or an interaction without an order, satisfies neither this comparison nor
    its negation (``normalise`` flips ``op`` and keeps the currencies).
    """

    field: str
    currency_field: str
    op: str
    thresholds: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class All:
    """Every item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Condition


Condition: TypeAlias = Compare | MoneyCompare | All | AnyOf | Not
Leaf: TypeAlias = Compare | MoneyCompare


class ConditionError(Exception):
    """Something wrong in a condition as written."""


def parse(raw: Any, fields: Mapping[str, FieldType], path: str = "when") -> Condition:
    """Parse and type-check a YAML condition; raises ConditionError listing every problem."""
    errors: list[str] = []
    condition = _parse(raw, fields, path, errors)
    if errors:
        raise ConditionError("; ".join(errors))
    return condition


def _parse(raw: Any, fields: Mapping[str, FieldType], path: str, errors: list[str]) -> Condition:
    if not isinstance(raw, Mapping) or not raw:
        errors.append(f"{path}: a condition must be a non-empty mapping")
        return All(())
    parts: list[Condition] = []
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                errors.append(f"{where}: must be a non-empty list of conditions")
                continue
            items = tuple(_parse(v, fields, f"{where}[{i}]", errors) for i, v in enumerate(value))
            parts.append(All(items) if key == "all" else AnyOf(items))
        elif key == "not":
            parts.append(Not(_parse(value, fields, where, errors)))
        elif key not in fields:
            errors.append(f"{where}: unknown field {key!r} ({_UNKNOWN_FIELD_HINT})")
        elif isinstance(value, Mapping):
            if not value:
                errors.append(f"{where}: no operator given")
            parts.extend(
                _leaf(key, op, operand, fields[key], where=f"{where}.{op}", errors=errors)
                for op, operand in value.items()
            )
        else:
            parts.append(_leaf(key, "eq", value, fields[key], where=where, errors=errors))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _leaf(
    name: str, op: str, value: Any, field: FieldType, *, where: str, errors: list[str]
) -> Leaf:
    leaf: Leaf = Compare(name, op, value)
    if op not in OPERATORS:
        errors.append(f"{where}: unknown operator {op!r} (one of {', '.join(OPERATORS)})")
    elif op not in _OPERATORS_BY_TYPE[field.type]:
        hint = f": compare it with {_MONEY_HINT}" if field.type == "money" else ""
        errors.append(
            f"{where}: operator {op!r} does not apply to {field.type} field {name!r}{hint}"
        )
    elif op == "exists":
        if not isinstance(value, bool):
            errors.append(f"{where}: exists takes true or false")
    elif op == "matches":
        if not isinstance(value, str):
            errors.append(f"{where}: matches takes a regular expression string")
        else:
            try:
                regex(value)
            except re2.error as error:
                errors.append(
                    f"{where}: regular expression {value!r} does not compile: "
                    f"{_re2_reason(error)} ({_REGEX_RULES})"
                )
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            errors.append(f"{where}: {op} takes a non-empty list")
        else:
            for item in value:
                errors.extend(_constant_errors(name, item, field, where))
            leaf = Compare(name, op, tuple(value))
    elif field.type == "money":
        thresholds = _thresholds(name, value, where, errors)
        leaf = MoneyCompare(name, field.currency_field, op, thresholds)
    else:
        errors.extend(_constant_errors(name, value, field, where))
    return leaf


def _thresholds(
    name: str, value: Any, where: str, errors: list[str]
) -> tuple[tuple[str, int], ...]:
    """``{EUR: 50, JPY: 8000}`` -> (("EUR", 5000), ("JPY", 8000)): minor units per currency."""
    if not isinstance(value, Mapping) or not value:
        errors.append(f"{where}: {value!r} names no currency: {name} is money, give {_MONEY_HINT}")
        return ()
    thresholds: dict[str, int] = {}
    for currency, amount in value.items():
        at = f"{where}.{currency}"
        try:
            code = money.currency_code(currency)
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                raise ValueError(f"{amount!r} is not an amount (a number, 0 or more)")
            minor = money.minor_units(amount, code)
        except ValueError as error:
            errors.append(f"{at}: {error}")
            continue
        if code in thresholds:
            errors.append(f"{at}: {code} is given twice")
        elif not fits_engine(minor):
            errors.append(f"{at}: {amount} is too large")
        thresholds[code] = minor
    return tuple(thresholds.items())


def _constant_errors(name: str, value: Any, field: FieldType, where: str) -> Iterator[str]:
    if field.accepts(value):
        return
    if field.values is not None and isinstance(value, str):
        yield f"{where}: {value!r} is not a value of {name!r} (one of {', '.join(field.values)})"
    else:
        yield f"{where}: {value!r} is not a valid {field.type} for {name!r}" + _RANGE_HINT.get(
            field.type, ""
        )


def normalise(condition: Condition, negate: bool = False) -> Condition:
    """Push every ``not`` down to the leaves (durable-rules has no general negation).

    A negated money comparison flips its operator and keeps its currencies: an order in another
    currency satisfies neither form.
    """
    if isinstance(condition, Not):
        return normalise(condition.item, not negate)
    if isinstance(condition, All | AnyOf):
        items = tuple(normalise(item, negate) for item in condition.items)
        flips = isinstance(condition, All) == negate
        return AnyOf(items) if flips else All(items)
    if not negate:
        return condition
    if isinstance(condition, MoneyCompare):
        return replace(condition, op=_NEGATED[condition.op])
    if condition.op == "exists":
        return Compare(condition.field, "exists", not condition.value)
    return Compare(condition.field, _NEGATED[condition.op], condition.value)


def leaves(condition: Condition) -> Iterator[Leaf]:
    """Every comparison in the condition, depth first."""
    if isinstance(condition, Compare | MoneyCompare):
        yield condition
        return
    for item in (condition.item,) if isinstance(condition, Not) else condition.items:
        yield from leaves(item)


def fields_read(condition: Condition) -> set[str]:
    """The names of every field the condition reads."""
    money = (leaf.currency_field for leaf in leaves(condition) if isinstance(leaf, MoneyCompare))
    return {leaf.field for leaf in leaves(condition)} | set(money)


@lru_cache(maxsize=1024)
def regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2, which matches in time linear in the value (it never
    backtracks), so no value a caller sends can make a decision slow; raises ``re2.error``."""
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY_BYTES
    options.log_errors = False  # the compiler reports them, once, with file and line
    options.never_capture = True  # only "does it match" is asked: no submatch bookkeeping
    return re2.compile(pattern, options)


def _re2_reason(error: re2.error) -> str:
    reason = error.args[0] if error.args else ""
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def order_currency(leaf: MoneyCompare, facts: Facts) -> str:
    """The currency of the order a money leaf compares, '' when the interaction has no order."""
    return str(facts.values[leaf.currency_field]) if leaf.field in facts.present else ""


def threshold(leaf: MoneyCompare, facts: Facts) -> int | None:
    """The leaf's threshold for the order's currency; None when it names none (or no order)."""
    currency = order_currency(leaf, facts)
    return next((minor for code, minor in leaf.thresholds if code == currency), None)


def leaf_holds(leaf: Leaf, facts: Facts) -> bool:
    """Evaluate one leaf against the facts."""
    return leaf_test(leaf)(facts)


LEAF_TESTS_KEPT = 4096
"""Leaves whose test is kept built: every leaf of the policies served, and then some."""

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "in": lambda actual, expected: actual in expected,
    "not_in": lambda actual, expected: actual not in expected,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
"""The operators that compare a field's value with a constant (and their negations)."""


@lru_cache(maxsize=LEAF_TESTS_KEPT)
def leaf_test(leaf: Leaf) -> Callable[[Facts], bool]:
    """One leaf as a function of the facts, built once: a decision tests every leaf of its
    policy (the decider's key), so the leaf's kind and operator are settled here, not per test."""
    field, op = leaf.field, leaf.op
    if isinstance(leaf, MoneyCompare):
        compare = _COMPARISONS[op]

        def money_holds(facts: Facts) -> bool:
            limit = threshold(leaf, facts)
            return limit is not None and compare(facts.values[field], limit)

        return money_holds
    expected = leaf.value
    if op == "exists":
        return lambda facts: (field in facts.present) is expected
    if op in ("matches", "not_matches"):
        # Searched as UTF-8 bytes, which RE2 reads natively: with str the binding would also map
        # each offset back to characters, work this yes/no question does not need.
        search = regex(expected).search
        wanted = op == "matches"
        return lambda facts: (search(str(facts.values[field]).encode()) is not None) == wanted
    compare = _COMPARISONS[op]
    return lambda facts: compare(facts.values[field], expected)


def holds(condition: Condition, facts: Facts) -> bool:
    """Evaluate a condition in Python (``not`` as ``normalise`` pushes it down, so that money in
    another currency satisfies neither a comparison nor its negation)."""
    if isinstance(condition, Compare | MoneyCompare):
        return leaf_holds(condition, facts)
    if isinstance(condition, Not):
        return holds(normalise(condition.item, negate=True), facts)
    if isinstance(condition, All):
        return all(holds(item, facts) for item in condition.items)
    return any(holds(item, facts) for item in condition.items)


def render(condition: Condition) -> str:
    """A condition as one line of text."""
    if isinstance(condition, MoneyCompare):
        amounts = [money.major_text(minor, code) for code, minor in condition.thresholds]
        shown = amounts[0] if len(amounts) == 1 else f"({', '.join(amounts)})"
        return f"{condition.field} {_SYMBOLS[condition.op]} {shown}"
    if isinstance(condition, Compare):
        if condition.op == "exists":
            return f"{condition.field} {'exists' if condition.value else 'is absent'}"
        value = condition.value
        shown = f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else repr(value)
        return f"{condition.field} {_SYMBOLS[condition.op]} {shown}"
    if isinstance(condition, Not):
        return f"not ({render(condition.item)})"
    joiner = " and " if isinstance(condition, All) else " or "
    return "(" + joiner.join(render(item) for item in condition.items) + ")"


def explain(condition: Condition, facts: Facts) -> str:
    """The part of a (normalised) condition that held, with the values it saw."""
    if isinstance(condition, MoneyCompare):
        amount = money.major_text(facts.values[condition.field], order_currency(condition, facts))
        return f"{render(condition)} [{condition.field}={amount}]"
    if isinstance(condition, Compare):
        seen = facts.values.get(condition.field)
        return f"{render(condition)} [{condition.field}={seen!r}]"
    if isinstance(condition, AnyOf):
        held = [item for item in condition.items if holds(item, facts)]
        return " or ".join(explain(item, facts) for item in held)
    if isinstance(condition, Not):
        return render(condition)
    return " and ".join(explain(item, facts) for item in condition.items)
