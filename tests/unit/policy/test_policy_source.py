"""Reading policy text is bounded and total: whatever the bytes, the outcome is a policy or
errors as ``file:line: element: reason``, never another exception and never unbounded work."""

from __future__ import annotations

import itertools
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_support import DEFAULT_POLICY, policy_text
from support.privileges import bound_by_file_permissions
from tierline_server.policy.compiler import compile_policy_text, load_policy
from tierline_server.policy.errors import PolicyInvalid
from tierline_server.policy.source import (
    MAX_FILE_BYTES,
    MAX_NESTING_DEPTH,
    MAX_POLICY_BYTES,
    MAX_VALUES,
)

T = TypeVar("T")

ALIASES = "anchors and aliases are not supported: write each value out"

GOOD_RULE = """
- id: gold
  when: {tier: gold}
  grant: {service_level: premium}
"""


def alias_bomb(levels: int = 18) -> str:
    """Nine references per level: ``levels`` anchors that expand to 9**levels strings."""
    names = string.ascii_lowercase[:levels]
    lines = [f"{names[0]}: &{names[0]} [{','.join(['lol'] * 9)}]"]
    lines += [
        f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]"
        for previous, name in itertools.pairwise(names)
    ]
    return "\n".join(lines) + "\n"


def text_errors(text: str) -> list[str]:
    """The errors compiling ``text`` as a candidate reports."""
    with pytest.raises(PolicyInvalid) as caught:
        compile_policy_text(text)
    return [str(error) for error in caught.value.errors]


def file_errors(path: Path) -> list[str]:
    """The errors loading the policy at ``path`` reports."""
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    return [str(error) for error in caught.value.errors]


def errors_if_any(load: Callable[[T], object], argument: T) -> list[str]:
    """The errors ``load(argument)`` reports as PolicyInvalid, or none when it succeeds."""
    try:
        load(argument)
    except PolicyInvalid as invalid:
        return [str(error) for error in invalid.errors] or ["PolicyInvalid without errors"]
    return []


def nested(depth: int) -> str:
    """A document whose deepest list is ``depth`` collections down (the top mapping is 1)."""
    return "policy: x\nlists: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"


@pytest.mark.timeout(10)  # expanding it takes seconds and gigabytes
def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) < 800
    text = policy_text(GOOD_RULE) + bomb
    first_anchor = text.splitlines().index(bomb.splitlines()[0]) + 1

    assert text_errors(text) == [f"<candidate>:{first_anchor}: yaml: {ALIASES} (found &a)"]


def test_a_single_alias_is_refused_too() -> None:
    """Even one harmless reuse: the rule is simply never to expand a reference."""
    text = policy_text(
        """
        - id: gold
          when: &gold {tier: gold}
          grant: {service_level: premium}
        - id: gold-again
          when: *gold
          grant: {perks: [{code: p}]}
        """
    )
    assert text_errors(text) == [f"<candidate>:18: yaml: {ALIASES} (found &gold)"]


@pytest.mark.parametrize(
    ("tagged", "tag"),
    [
        ("!!int ''", "tag:yaml.org,2002:int"),  # PyYAML fails on it with an IndexError
        ("!!binary aGk=", "tag:yaml.org,2002:binary"),
        ("!!python/object/apply:os.system [id]", "tag:yaml.org,2002:python/object/apply:os.system"),
        ("!custom x", "!custom"),
    ],
)
def test_explicit_tags_are_refused(tagged: str, tag: str) -> None:
    """A policy needs plain values only: no tag is ever resolved to a constructor."""
    text = policy_text(GOOD_RULE).replace('version: "1"', f"version: {tagged}")
    assert text_errors(text) == [
        f"<candidate>:2: yaml: tags are not supported: write plain values (found {tag})"
    ]


def test_nesting_up_to_the_limit_is_read() -> None:
    errors = text_errors(nested(MAX_NESTING_DEPTH))
    assert not any("nested" in error for error in errors)
    assert "<candidate>:1: policy: unknown section 'lists'" in errors


@pytest.mark.parametrize(
    ("depth", "reason"),
    [
        (MAX_NESTING_DEPTH + 1, f"nested more than {MAX_NESTING_DEPTH} mappings or lists deep"),
        (5_000, "exceeded maximum nesting depth"),  # libyaml's own limit, met while reading ahead
    ],
)
def test_nesting_past_the_limit_is_refused(depth: int, reason: str) -> None:
    """5,000 levels exhausted the parser's recursion (RecursionError) before the limit."""
    assert text_errors(nested(depth)) == [f"<candidate>:2: yaml: {reason}"]


def test_deep_block_nesting_is_refused_at_its_line() -> None:
    text = "policy: x\nversion: '1'\nrules:\n" + "".join(
        "  " * level + f"- k{level}:\n" for level in range(1, 40)
    )
    (error,) = text_errors(text)
    assert error.endswith(f"yaml: nested more than {MAX_NESTING_DEPTH} mappings or lists deep")
    assert error.startswith("<candidate>:")
    assert 3 < int(error.split(":")[1]) < 40


DENSE_LINE = "- [" + "x, " * 40 + "]\n"
"""41 values (a list and its 40 scalars) in 124 bytes: parsing costs per value, not per byte."""


def dense_rules(values: int) -> str:
    """``rules:`` with at least ``values`` values in DENSE_LINEs."""
    return "rules:\n" + DENSE_LINE * -(-values // 41)


def test_values_past_the_budget_are_refused_at_their_line() -> None:
    """1 MiB of dense values took a minute to parse; reading stops at MAX_VALUES."""
    text = "policy: dense\n" + dense_rules(MAX_VALUES)
    # Before the rules: the top mapping, "policy", "dense", "rules" and the rules list.
    line_of_value = 2 + -(-(MAX_VALUES + 1 - 5) // 41)
    assert text_errors(text) == [
        f"<candidate>:{line_of_value}: yaml: more than {MAX_VALUES:,} values "
        "(mappings, lists and scalars)"
    ]


def test_the_value_budget_is_for_all_the_files_of_a_policy(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(policy_text(GOOD_RULE))
    (tmp_path / "b.yaml").write_text(dense_rules(MAX_VALUES * 2 // 3))
    (tmp_path / "c.yaml").write_text(dense_rules(MAX_VALUES * 2 // 3))
    (error,) = file_errors(tmp_path)
    assert error.startswith(f"{tmp_path / 'c.yaml'}:")
    assert error.endswith(f"yaml: more than {MAX_VALUES:,} values (mappings, lists and scalars)")


def test_a_nul_byte_is_refused_at_its_line() -> None:
    text = policy_text(GOOD_RULE).replace("gold}", "gold\0}", 1)
    assert text_errors(text) == [
        "<candidate>:18: yaml: character #x0000 is not allowed: control characters are not allowed"
    ]


def test_a_file_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = policy_text(GOOD_RULE).replace("{service_level: premium}", "{service_level: pr\xffmium}")
    path.write_bytes(text.encode("latin-1"))
    assert file_errors(path) == [
        f"{path}:19: yaml: not UTF-8 text (byte 0xff): save the file as UTF-8"
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-13-45", "month must be in 1..12"),
        ("1" * 5_000, "Exceeds the limit (4300 digits) for integer string conversion"),
    ],
    ids=["13th-month", "5000-digits"],
)
def test_a_value_that_does_not_convert_is_an_error_at_its_line(value: str, reason: str) -> None:
    text = policy_text(GOOD_RULE).replace('version: "1"', f"version: {value}")
    (error,) = text_errors(text)
    assert error.startswith(f"<candidate>:2: yaml: cannot read this value: {reason}")


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = policy_text(GOOD_RULE)
    path.write_text(text + "#" * (MAX_FILE_BYTES - len(text)) + "\n")
    assert file_errors(path) == [
        f"{path}:0: file: larger than 512 KiB, the most a policy file may be"
    ]


def test_policy_files_over_the_total_limit_are_refused(tmp_path: Path) -> None:
    """Each file within its limit, together over the policy's: refused at the one that tips it."""
    (tmp_path / "a.yaml").write_text(policy_text(GOOD_RULE))
    more_rules = "rules: []\n" + "# padding\n" * ((MAX_FILE_BYTES - 10) // 10)
    for name in ("b.yaml", "c.yaml", "d.yaml"):
        (tmp_path / name).write_text(more_rules)
    assert file_errors(tmp_path) == [
        f"{tmp_path / 'c.yaml'}:0: policy: the policy's files come to more than 1 MiB with this one"
    ]


def test_a_candidate_over_the_size_limit_is_not_parsed() -> None:
    text = policy_text(GOOD_RULE)
    assert text_errors(text + "#" * (MAX_POLICY_BYTES - len(text) + 1)) == [
        "<candidate>:0: policy: larger than 1 MiB"
    ]


def check_as_unprivileged(path: Path) -> subprocess.CompletedProcess[str]:
    """`tierline policy check --policy path` in a process that file permissions apply to."""
    return subprocess.run(
        [sys.executable, "-m", "tierline_server.cli", "policy", "check", "--policy", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=bound_by_file_permissions(),
    )


@pytest.mark.parametrize("unreadable", ["directory", "file"])
def test_a_policy_that_may_not_be_read_is_an_error_not_a_traceback(
    tmp_path: Path, unreadable: str
) -> None:
    policy = tmp_path / "rules"
    policy.mkdir()
    (policy / "policy.yaml").write_text((DEFAULT_POLICY / "policy.yaml").read_text())
    (policy / "entitlements.yaml").write_text((DEFAULT_POLICY / "entitlements.yaml").read_text())
    denied = policy if unreadable == "directory" else policy / "entitlements.yaml"
    denied.chmod(0)
    try:
        result = check_as_unprivileged(policy)
    finally:
        denied.chmod(0o700)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{denied}:0: file: cannot read: Permission denied",
        f"1 error(s) in {policy}",
    ]


YAML_SYNTAX = st.sampled_from(
    [*"[]{}:,-?&*!|>#%@`'\"\\ \t\n\r\0\x85\ufeff", "\n  ", ": ", "- ", "&a ", "*a", "!!int ",
     "!!binary ", "!!timestamp ", "!!set ", "<<: ", "---\n", "...\n", "policy", "rules", "1e9",
     "2026-13-45", "~", "é", "\U0001f600"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(YAML_SYNTAX | st.text(max_size=4), max_size=60).map("".join))
def test_any_text_compiles_or_reports_policy_errors(text: str) -> None:
    """Garbage text: a policy or PolicyInvalid whose errors each name a place, nothing else."""
    assert all(
        error.startswith("<candidate>:") for error in errors_if_any(compile_policy_text, text)
    )


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_loads_or_reports_policy_errors(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("garbage") / "policy.yaml"
    path.write_bytes(data)
    assert all(error.startswith(f"{path}:") for error in errors_if_any(load_policy, path))
