"""Decisions written to a real Redis Stream in batches, read back in order, trimmed by length and
by age, with customer ids hashed when a key is set, on one Redis or a Redis Cluster."""

from __future__ import annotations

import asyncio

import pytest
import redis
from log_support import (
    CONTEXTS,
    STREAM,
    decision,
    decisions,
    dropped,
    running_writer,
    stored,
    write_log,
    written,
)
from support.waiting import wait_until
from tierline_server.config import RedisSettings
from tierline_server.decisionlog.customers import CustomerNames
from tierline_server.decisionlog.reader import DecisionLogReader
from tierline_server.decisionlog.record import DecisionRecord
from tierline_server.features.redis_client import writer_client

pytestmark = pytest.mark.integration

KEY = "a-key-of-at-least-sixteen-bytes"


def test_decisions_are_written_in_order_and_read_back(redis_url: str) -> None:
    made = list(decisions(450))  # more than two pipelines' worth

    async def scenario() -> None:
        async with running_writer(redis_url) as (log, metrics):
            for index, (request, outcome) in enumerate(made):
                log.append(request, outcome, batch=index % 3 == 0)
            await wait_until(lambda: written(metrics) == len(made))
            assert dropped(metrics, "queue_full") == dropped(metrics, "redis") == 0

    asyncio.run(scenario())

    records = stored(redis_url)
    assert [r.outcome for r in records] == [outcome for _, outcome in made]
    assert [r.context for r in records] == [request.context for request, _ in made]
    assert [r.method for r in records[:3]] == ["DecideBatch", "Decide", "Decide"]
    assert not any(r.customer_hashed for r in records)


def test_the_reader_finds_one_the_latest_and_a_span(redis_url: str) -> None:
    made = list(decisions(30))

    write_log(redis_url, made)

    with writer_client(RedisSettings(url=redis_url)) as client:
        reader = DecisionLogReader(client, STREAM)
        target = made[17][1]
        found = reader.find(target.decision_id)
        assert found is not None
        assert found.record.outcome == target
        gold = [outcome for _, outcome in made if outcome.customer_id == "gold-1"]
        latest, newest = reader.latest(3, lambda r: r.outcome.customer_id == "gold-1")
        assert [entry.record.outcome for entry in latest] == gold[-3:]
        assert newest == client.xrevrange(STREAM, count=1)[0][0].decode()
        made_at = found.record.made_at
        span = reader.between(made_at - 3600, made_at + 3600)
        assert [entry.record.outcome for entry in span] == [o for _, o in made]
        assert list(reader.between(made_at + 3600, made_at + 7200)) == []
        assert reader.skipped == 0


def test_entries_that_are_not_records_are_skipped_and_counted(redis_url: str) -> None:
    request, outcome = decision("gold-1", CONTEXTS[0])
    with redis.Redis.from_url(redis_url) as client:
        client.xadd(STREAM, {"something": "else"})
        client.xadd(STREAM, {"record": '{"schema": 99}'})

    write_log(redis_url, [(request, outcome)])

    with writer_client(RedisSettings(url=redis_url)) as client:
        reader = DecisionLogReader(client, STREAM)
        latest, _ = reader.latest(10, lambda _: True)
    assert [entry.record.outcome for entry in latest] == [outcome]
    assert reader.skipped == 2


def test_the_stream_keeps_about_max_length_entries(redis_url: str) -> None:
    made = list(decisions(600))

    write_log(redis_url, made, max_length=50)

    with redis.Redis.from_url(redis_url) as client:
        kept = client.xlen(STREAM)
        newest = client.xrevrange(STREAM, count=1)[0][1][b"record"]
    assert 50 <= kept < 150  # approximate: Redis trims whole nodes of the stream
    assert made[-1][1].decision_id.encode() in newest


def test_entries_older_than_max_age_are_trimmed(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        for second in range(1, 301):  # written in 1970: far older than any max age
            client.xadd(STREAM, {"record": "x" * 200}, id=f"{second * 1000}-0")
    made = list(decisions(10))

    write_log(redis_url, made, max_age_seconds=3600)

    with redis.Redis.from_url(redis_url) as client:
        old = len(client.xrange(STREAM, max="999999999-0"))
    assert old < 100  # approximate: at most the node that the new entries share
    assert len(stored_records(redis_url)) == 10


def stored_records(url: str) -> list[DecisionRecord]:
    with writer_client(RedisSettings(url=url)) as client:
        reader = DecisionLogReader(client, STREAM)
        return [entry.record for entry in reader.between(0, 2**40)]


def test_with_a_key_the_log_holds_keyed_hashes_of_customer_ids(redis_url: str) -> None:
    request, outcome = decision("gold-1", CONTEXTS[1])

    write_log(redis_url, [(request, outcome)], key=KEY)

    [logged] = stored(redis_url)
    assert logged.customer_hashed
    assert logged.outcome.customer_id == CustomerNames(KEY.encode()).name("gold-1")
    assert logged.outcome.decision == outcome.decision
    with redis.Redis.from_url(redis_url) as client:
        assert b"gold-1" not in client.xrange(STREAM)[0][1][b"record"]


def test_a_redis_cluster_keeps_the_stream_on_one_node(redis_cluster_url: str) -> None:
    made = list(decisions(250))

    write_log(redis_cluster_url, made)

    with writer_client(RedisSettings(url=redis_cluster_url)) as client:
        reader = DecisionLogReader(client, STREAM)
        latest, _ = reader.latest(len(made), lambda _: True)
        assert [entry.record.outcome for entry in latest] == [o for _, o in made]
        assert reader.find(made[100][1].decision_id) is not None
