"""The comparisons a policy's rules make, and their outcomes for one set of facts.

Conditions compare fields with constants, so which rules match depends on nothing but the
outcome of each comparison: two inputs whose comparisons all come out the same match the same
rules. That makes the outcomes a key under which an answer of the engine can be reused exactly
(the decider), and a way to group customers who are treated alike (reports and replays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tierline_server.policy import conditions
from tierline_server.policy.compiled import Rule
from tierline_server.policy.conditions import Leaf
from tierline_server.policy.domain import Facts


class Comparisons:
    """The distinct comparisons of ``rules`` on the fields ``reads`` accepts."""

    def __init__(
        self, rules: Iterable[Rule], reads: Callable[[str], bool] = lambda field: True
    ) -> None:
        self.leaves: tuple[Leaf, ...] = tuple(
            dict.fromkeys(
                leaf
                for rule in rules
                for leaf in conditions.leaves(rule.condition)
                if reads(leaf.field)
            )
        )
        self._tests = tuple(conditions.leaf_test(leaf) for leaf in self.leaves)

    def outcomes(self, facts: Facts) -> int:
        """Every comparison's outcome for ``facts``, one bit each."""
        key = 0
        for bit, test in enumerate(self._tests):
            if test(facts):
                key |= 1 << bit
        return key
