"""Which of h2load's answers count as failures."""

from __future__ import annotations

import collections

import h2load


def _result(statuses: dict[int, int], **counts: int) -> h2load.Result:
    done = sum(statuses.values())
    result = h2load.Result(statuses=collections.Counter(statuses))
    result.counts.update(total=done, started=done, done=done, **counts)
    return result


def test_answers_all_2xx_are_no_failure() -> None:
    assert _result({200: 90}).failures(server_counts=False) == []


def test_an_error_status_is_a_failure_whoever_counts() -> None:
    result = _result({200: 90, 429: 4, 503: 1})

    assert result.failures(server_counts=True) == ["4 answered HTTP 429", "1 answered HTTP 503"]


def test_a_status_h2load_could_not_read_is_left_to_the_server_s_count() -> None:
    result = _result({0: 12})  # HTTP/1.1 without a reason phrase

    assert result.failures(server_counts=True) == []
    assert result.failures(server_counts=False) == [
        "12 answers whose HTTP status h2load could not read"
    ]


def test_requests_not_completed_are_failures() -> None:
    result = _result({200: 8}, errored=2, timeout=1)
    result.counts["started"] = 11

    assert result.failures(server_counts=True) == [
        "2 errored",
        "1 timeout",
        "h2load started 11, done 8",
    ]
    assert _result({}).failures(server_counts=True) == ["no response at all"]
