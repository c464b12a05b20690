"""The time an exchange may wait for Redis grows with what it carries."""

from __future__ import annotations

import pytest
from tierline_server.features.round_trip import budget_for, command


@pytest.mark.parametrize(
    ("commands", "budgets"), [(1, 1), (100, 1), (101, 2), (500, 5), (1000, 10)]
)
def test_one_budget_per_hundred_commands(commands: int, budgets: int) -> None:
    assert budget_for(0.005, commands) == pytest.approx(0.005 * budgets)


def test_a_command_of_two_words_goes_on_the_wire_as_two_arguments() -> None:
    assert command("SCRIPT LOAD", b"x").wire == b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$1\r\nx\r\n"
