"""``tierline decisions get | tail | export`` on a real Redis: a support lead finds a decision and
why it was made, follows decisions as they come, and exports a span."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from log_support import CONTEXTS, decision, decisions, write_log
from support.paths import REPO
from support.policies import raised_threshold
from tierline_server.cli import main
from tierline_server.commands.decisions import CSV_COLUMNS
from tierline_server.decisionlog.customers import CustomerNames
from tierline_server.decisionlog.record import iso_time
from tierline_server.ids import decision_time

pytestmark = pytest.mark.integration

KEY = "a-key-of-at-least-sixteen-bytes"
FOLLOW_SECONDS = 20.0
"""How long a following tail may take to print a new decision (a process start, a busy machine)."""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["decisions", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_get_shows_the_whole_record_and_why(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    request, outcome = decision("basic-1", CONTEXTS[1])  # free shipping from 50.00
    write_log(redis_url, [*decisions(5), (request, outcome)])

    status, out, _ = run(capsys, "get", outcome.decision_id, "--redis-url", redis_url)

    assert status == 0
    assert f"Decision {outcome.decision_id}" in out
    assert "basic-1" in out
    assert "web, intent purchase, order 60.00 EUR" in out
    assert "tier='basic'" in out
    assert "why free-shipping" in out
    assert "order_value >= (50.00 EUR," in out
    assert "[order_value=60.00 EUR]" in out
    assert "which decides the same" in out


def test_get_with_another_policy_says_it_decides_otherwise(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = raised_threshold(tmp_path)
    request, outcome = decision("basic-1", CONTEXTS[1])
    write_log(redis_url, [(request, outcome)])

    status, out, _ = run(
        capsys, "get", outcome.decision_id, "--policy", str(candidate), "--redis-url", redis_url
    )

    assert status == 0
    assert "which decides otherwise" in out
    assert "the decision was made by 2026.11.1" in out


def test_get_json_is_the_record_as_stored(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    request, outcome = decision("gold-1", CONTEXTS[0])
    write_log(redis_url, [(request, outcome)])

    status, out, _ = run(capsys, "get", outcome.decision_id, "--json", "--redis-url", redis_url)

    assert status == 0
    document = json.loads(out)
    assert document["outcome"]["decision_id"] == outcome.decision_id
    assert document["outcome"]["decision"]["matched_rules"] == list(outcome.decision.matched_rules)


def test_get_of_a_decision_not_logged(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    write_log(redis_url, list(decisions(3)))
    _, missing = decision("gold-1", CONTEXTS[0])  # made, never logged

    status, _, err = run(capsys, "get", missing.decision_id, "--redis-url", redis_url)
    assert status == 1
    assert "is not in the log" in err
    status, _, err = run(capsys, "get", "not-a-decision-id", "--redis-url", redis_url)
    assert status == 2
    assert "is not a decision id" in err


def test_tail_filters_by_customer_level_degraded_and_rule(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    made = list(decisions(16))  # 4 customers x 4 contexts
    write_log(redis_url, made)

    def tail(*filters: str) -> list[str]:
        status, out, _ = run(
            capsys, "tail", "--no-follow", "-n", "100", *filters, "--redis-url", redis_url
        )
        assert status == 0
        return [line.split()[1] for line in out.splitlines()]

    ids = [outcome.decision_id for _, outcome in made]
    assert tail() == ids
    assert tail("-n", "2") == ids[-2:]
    assert tail("--customer", "gold-1") == [
        o.decision_id for _, o in made if o.customer_id == "gold-1"
    ]
    assert tail("--level", "premium") == [
        o.decision_id for _, o in made if o.decision.service_level.name == "premium"
    ]
    assert tail("--rule", "free-shipping") == [
        o.decision_id for _, o in made if "free-shipping" in o.decision.matched_rules
    ]
    assert tail("--degraded") == []


def test_tail_by_customer_needs_the_key_when_ids_are_hashed(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = list(decisions(8))
    write_log(redis_url, made, key=KEY)

    status, _, err = run(
        capsys, "tail", "--no-follow", "--customer", "gold-1", "--redis-url", redis_url
    )
    assert status == 2
    assert "give the key" in err

    monkeypatch.setenv("TIERLINE_DECISION_LOG_CUSTOMER_KEY", KEY)
    status, out, _ = run(
        capsys, "tail", "--no-follow", "--customer", "gold-1", "--redis-url", redis_url
    )
    assert status == 0
    hashed = CustomerNames(KEY.encode()).name("gold-1")
    assert [line.split()[2] for line in out.splitlines()] == [hashed] * 4  # gold-1 x 4 contexts


def test_tail_follows_new_decisions(redis_url: str) -> None:
    first = list(decisions(2))
    write_log(redis_url, first)
    command = [
        sys.executable, "-m", "tierline_server.cli", "decisions", "tail", "-n", "1",
        "--redis-url", redis_url,
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "300"}
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) as tail:
        assert tail.stdout is not None
        lines = lines_of(tail.stdout)
        try:
            assert first[-1][1].decision_id in lines.get(timeout=FOLLOW_SECONDS)
            later = list(decisions(3))
            write_log(redis_url, later)
            for _, outcome in later:
                assert outcome.decision_id in lines.get(timeout=FOLLOW_SECONDS)
        finally:
            tail.terminate()
            tail.wait(timeout=10)


def lines_of(stream: io.TextIOBase) -> queue.Queue[str]:
    """A child's output lines, read on a thread so that a test can wait for each with a limit."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_export_writes_a_span_as_jsonl_or_csv(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = list(decisions(12))
    write_log(redis_url, made)
    since = decision_time(made[0][1].decision_id)
    until = decision_time(made[-1][1].decision_id) + 1

    jsonl = tmp_path / "decisions.jsonl"
    span = ("--since", iso_time(since), "--until", iso_time(until))
    status, _, err = run(capsys, "export", *span, "--out", str(jsonl), "--redis-url", redis_url)
    assert status == 0
    assert "exported 12 decisions" in err
    exported = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [d["outcome"]["decision_id"] for d in exported] == [o.decision_id for _, o in made]

    table = tmp_path / "decisions.csv"
    status, _, _ = run(
        capsys, "export", "--since", iso_time(since), "--format", "csv", "--out", str(table),
        "--redis-url", redis_url,
    )  # fmt: skip
    assert status == 0
    with table.open(newline="") as opened:
        rows = list(csv.DictReader(opened))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [row["decision_id"] for row in rows] == [o.decision_id for _, o in made]
    first = rows[0]
    assert (first["customer"], first["channel"], first["intent"]) == ("gold-1", "phone", "cancel")
    assert json.loads(first["features"])["tier"] == "gold"
    assert first["queue"] == made[0][1].decision.routing.queue

    status, _, err = run(
        capsys, "export", "--since", iso_time(until + 60), "--redis-url", redis_url
    )
    assert status == 0
    assert "exported 0 decisions" in err
