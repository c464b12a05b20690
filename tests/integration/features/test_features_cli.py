"""``tierline features get | set | delete | demo`` for support staff, against a real Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis
from feature_support import PREFIX, settings, write
from tierline_server.cli import main
from tierline_server.features import keys

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["features", *args])
    out, err = capsys.readouterr()
    return status, out, err


def table_rows(out: str) -> dict[str, list[str]]:
    """A printed table's rows: first cell -> the other cells (cells split by borders or by two
    or more spaces)."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in re.split(r"│|\s{2,}", line.strip()) if cell.strip()]
        if len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def stored(url: str, customer_id: str) -> dict[str, str]:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return client.hgetall(PREFIX + customer_id)


def test_get_shows_typed_values_and_problems(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(redis_url, "c1", tier="gold", ltv="lots", legacy="1")
    status, out, _ = run(capsys, "get", "c1", "--json", "--redis-url", redis_url)
    assert status == 0
    shown = json.loads(out)
    assert shown["features"] == {"tier": "gold"}
    assert shown["undecodable"] == ["ltv"]
    assert shown["not_in_policy"] == {"legacy": "1"}
    assert shown["age_seconds"] >= 0
    status, out, _ = run(capsys, "get", "c1", "--redis-url", redis_url)
    assert status == 0
    assert "undecodable" in out
    assert "not in the policy" in out


def test_get_of_an_unknown_customer(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "get", "nobody", "--redis-url", redis_url)
    assert status == 1
    assert "tier is unknown" in err


def test_set_writes_checked_values_and_announces_them(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(redis_url, "c1", tier="basic", ltv="10")
    with redis.Redis.from_url(redis_url) as client, client.pubsub() as pubsub:
        pubsub.subscribe(settings(redis_url).invalidation_channel)
        pubsub.get_message(timeout=5)
        status, _, _ = run(
            capsys, "set", "c1", "evangelist=yes", "tier=gold", "--redis-url", redis_url
        )
        message = pubsub.get_message(timeout=5)
    assert status == 0
    assert message is not None
    assert keys.invalidated_ids(message["data"]) == ["c1"]
    values = stored(redis_url, "c1")
    assert {name: values[name] for name in ("tier", "ltv", "evangelist")} == {
        "tier": "gold",
        "ltv": "10",
        "evangelist": "true",
    }


@pytest.mark.parametrize(
    "assignments",
    [["ltv=lots"], ["shoe_size=44"], ["tier"], ["tier=diamond"]],
)
def test_set_refuses_what_the_policy_does_not_allow(
    redis_url: str, capsys: pytest.CaptureFixture[str], assignments: list[str]
) -> None:
    status, _, _ = run(capsys, "set", "c1", *assignments, "--redis-url", redis_url)
    assert status == 2
    assert stored(redis_url, "c1") == {}


def test_delete(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    write(redis_url, "c1", tier="gold")
    status, out, _ = run(capsys, "delete", "c1", "--redis-url", redis_url)
    assert (status, out.strip()) == (0, "deleted c1")
    assert stored(redis_url, "c1") == {}
    status, out, _ = run(capsys, "delete", "c1", "--redis-url", redis_url)
    assert (status, out.strip()) == (0, "nothing stored for c1")


def test_invalid_ids_and_unreachable_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "bad id")[0] == 2
    assert run(capsys, "delete", "c1", "--redis-url", "redis://127.0.0.1:1/0")[0] == 2


def test_demo_then_load(redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.csv"
    assert run(capsys, "demo", "--count", "2000", "--seed", "3", "--out", str(out))[0] == 0
    assert len(out.read_text().splitlines()) == 2001
    status, report, _ = run(capsys, "load", str(out), "--redis-url", redis_url)
    assert status == 0
    assert "2,000" in report


def test_get_shows_values_as_a_policy_writes_them(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gold, true, 12.5: not Python's 'gold' and True."""
    monkeypatch.setenv("COLUMNS", "200")
    write(redis_url, "c1", tier="gold", evangelist="yes", ltv="12.5")
    status, out, _ = run(capsys, "get", "c1", "--redis-url", redis_url)
    assert status == 0
    rows = table_rows(out)
    assert rows["tier"] == ["gold", "gold"]  # value as read, value as stored
    assert rows["evangelist"] == ["true", "yes"]
    assert rows["ltv"] == ["12.5", "12.5"]
    assert rows["complaints_90d"] == ["0", "not stored: default"]
    assert "'" not in out
    assert "True" not in out


def test_load_counts_customers_and_reports_repeated_ids(
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A customer given twice is one customer, in the tier its last row gives (as stored)."""
    monkeypatch.setenv("COLUMNS", "200")
    source = tmp_path / "customers.csv"
    source.write_text("customer_id,ltv\nc1,25000\nc2,6000\nc1,10\nc2,7000\nc3,300\n")
    status, out, _ = run(capsys, "load", str(source), "--redis-url", redis_url)
    assert status == 0
    rows = table_rows(out)
    assert (rows["rows read"], rows["rows loaded"], rows["rows rejected"]) == (["5"], ["5"], ["0"])
    assert rows["customers"][0] == "3"
    assert "platinum" not in rows
    assert (rows["basic"], rows["gold"], rows["standard"]) == (["1"], ["1"], ["1"])
    assert rows["repeated ids"] == [
        "2",
        "rows whose customer id came earlier (e.g. c1, c2): the last row wins",
    ]
    assert stored(redis_url, "c1")["tier"] == "basic"
