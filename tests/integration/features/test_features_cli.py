"""``tierline features get | set | delete | demo`` for support staff, against a real Redis."""

from __future__ import annotations

import json
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
