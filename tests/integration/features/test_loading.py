"""``features load`` against a real Redis: what is stored, what is rejected, and how."""

from __future__ import annotations

import csv
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import redis
from feature_support import DEFAULT_POLICY, PREFIX, settings
from tierline_server.cli import main
from tierline_server.commands import output
from tierline_server.features import demo, keys, loader, redis_client
from tierline_server.features.loader import LoadOptions, LoadSummary
from tierline_server.features.records import CustomerRecords

pytestmark = pytest.mark.integration

CUSTOMERS = [
    {"customer_id": "whale", "ltv": "25000", "orders_12m": "40", "evangelist": "true"},
    {"customer_id": "loyal", "ltv": "6000", "tenure_days": "2000"},
    {"customer_id": "grower", "ltv": "1500", "orders_12m": "8"},
    {"customer_id": "regular", "ltv": "300", "complaints_90d": "6"},
    {"customer_id": "newbie", "tenure_days": "3"},
]
COLUMNS = ["customer_id", "ltv", "tenure_days", "orders_12m", "complaints_90d", "evangelist"]
EXPECTED = {
    "whale": {"tier": "platinum", "ltv": "25000.0", "orders_12m": "40", "evangelist": "true"},
    "loyal": {"tier": "gold", "ltv": "6000.0", "tenure_days": "2000"},
    "grower": {"tier": "growth", "ltv": "1500.0", "orders_12m": "8"},
    "regular": {"tier": "standard", "ltv": "300.0", "complaints_90d": "6"},
    "newbie": {"tier": "basic", "tenure_days": "3"},
}


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def load(url: str, path: Path, **options: Any) -> LoadSummary:
    redis_settings = settings(url)
    with redis_client.writer_client(redis_settings) as client:
        return loader.load_file(
            path,
            DEFAULT_POLICY,
            CustomerRecords(client, redis_settings),
            options=LoadOptions(**options),
        )


def stored(url: str) -> dict[str, dict[str, str]]:
    """Every customer hash (keys of other types aside), without ``_updated``."""
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return {
            key.removeprefix(PREFIX): {
                name: value
                for name, value in client.hgetall(key).items()
                if name != keys.UPDATED_FIELD
            }
            for key in client.scan_iter(f"{PREFIX}*", _type="HASH")
        }


def rejects(path: Path) -> list[tuple[int, str, str]]:
    with path.open(newline="") as file:
        return [(int(row["line"]), row["reason"], row["record"]) for row in csv.DictReader(file)]


def test_csv_rows_are_segmented_and_stored(redis_url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "customers.csv", CUSTOMERS)
    summary = load(redis_url, source)
    assert (summary.read, summary.loaded, summary.rejected) == (5, 5, 0)
    assert summary.tiers == {"platinum": 1, "gold": 1, "growth": 1, "standard": 1, "basic": 1}
    assert summary.rejects_path is None
    assert not loader.default_rejects_path(source).exists()
    assert stored(redis_url) == EXPECTED
    with redis.Redis.from_url(redis_url) as client:
        assert float(client.hget(PREFIX + "whale", keys.UPDATED_FIELD) or 0) > 0


def test_json_lines_store_the_same(redis_url: str, tmp_path: Path) -> None:
    rows = [
        {"customer_id": "whale", "ltv": 25000, "orders_12m": 40, "evangelist": True},
        {"customer_id": "loyal", "ltv": 6000.0, "tenure_days": 2000, "evangelist": None},
        {"customer_id": "grower", "ltv": "1500", "orders_12m": 8},
        {"customer_id": "regular", "ltv": 300, "complaints_90d": 6},
        {"customer_id": "newbie", "tenure_days": 3},
    ]
    summary = load(redis_url, write_jsonl(tmp_path / "customers.jsonl", rows))
    assert (summary.loaded, summary.rejected) == (5, 0)
    assert stored(redis_url) == EXPECTED


def test_every_rejected_row_is_in_the_reject_file(redis_url: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set(PREFIX + "wrongtype", "a string, not a hash")
    source = tmp_path / "mixed.csv"
    source.write_text(
        "customer_id,tier,ltv,evangelist\n"
        "good,,100,\n"  # line 2
        "bad id,,100,\n"  # 3
        ",,100,\n"  # 4
        "c4,,lots,\n"  # 5
        "c5,diamond,100,\n"  # 6
        "c6,,100,maybe\n"  # 7
        "c7,,100\n"  # 8: a field short
        "wrongtype,,100,\n"  # 9: Redis refuses
    )
    summary = load(redis_url, source, batch_size=3)
    assert (summary.read, summary.loaded, summary.rejected) == (8, 1, 7)
    assert summary.rejects_path == tmp_path / "mixed.rejects.csv"
    lines = rejects(summary.rejects_path)
    assert [(line, reason.split(":")[0]) for line, reason, _ in lines] == [
        (3, "customer_id"),
        (4, "customer_id"),
        (5, "ltv"),
        (6, "tier"),
        (7, "evangelist"),
        (8, "malformed"),
        (9, "redis"),
    ]
    assert lines[0] == (3, f"customer_id: 'bad id' is not {keys.CUSTOMER_ID_RULE}", "bad id,,100,")
    assert "WRONGTYPE" in lines[-1][1]
    assert set(stored(redis_url)) == {"good"}


def test_rejected_json_lines(redis_url: str, tmp_path: Path) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        '{"customer_id": "good", "ltv": 10}\n'
        "{not json\n"
        '["customer_id", "c3"]\n'
        '{"customer_id": "c4", "shoe_size": 44}\n'
        '{"customer_id": "c5", "ltv": true}\n'
    )
    rejects_path = tmp_path / "out" / "rejected.csv"
    rejects_path.parent.mkdir()
    summary = load(redis_url, source, rejects=rejects_path)
    assert (summary.loaded, summary.rejected) == (1, 4)
    assert [
        (line, reason.split(" ")[0], record) for line, reason, record in rejects(rejects_path)
    ] == [
        (2, "malformed:", "{not json"),
        (3, "malformed:", '["customer_id", "c3"]'),
        (4, "unknown", '{"customer_id": "c4", "shoe_size": 44}'),
        (5, "ltv:", '{"customer_id": "c5", "ltv": true}'),
    ]


def test_loading_twice_changes_nothing(redis_url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "customers.csv", CUSTOMERS)
    first = load(redis_url, source)
    snapshot = stored(redis_url)
    second = load(redis_url, source)
    assert stored(redis_url) == snapshot == EXPECTED
    assert (second.read, second.loaded, second.rejected, second.tiers) == (
        first.read,
        first.loaded,
        first.rejected,
        first.tiers,
    )


def test_replace_removes_features_the_row_does_not_give(redis_url: str, tmp_path: Path) -> None:
    load(redis_url, write_csv(tmp_path / "full.csv", CUSTOMERS[:1]))
    smaller = write_csv(
        tmp_path / "ltv.csv", [{"customer_id": "whale", "ltv": "30000"}], ["customer_id", "ltv"]
    )
    load(redis_url, smaller)
    assert stored(redis_url)["whale"] == {**EXPECTED["whale"], "ltv": "30000.0"}
    load(redis_url, smaller, replace=True)
    assert stored(redis_url)["whale"] == {"tier": "platinum", "ltv": "30000.0"}


def test_keep_tier_keeps_the_rows_own_tier(redis_url: str, tmp_path: Path) -> None:
    rows = [{"customer_id": "vip", "tier": "gold", "ltv": "10"}, {"customer_id": "c2", "ltv": "10"}]
    source = write_csv(tmp_path / "tiers.csv", rows, ["customer_id", "tier", "ltv"])
    load(redis_url, source)
    assert stored(redis_url)["vip"]["tier"] == "basic"
    summary = load(redis_url, source, keep_tier=True)
    assert stored(redis_url)["vip"]["tier"] == "gold"
    assert summary.tiers == {"gold": 1, "basic": 1}


def test_each_batch_is_announced_on_the_invalidation_channel(
    redis_url: str, tmp_path: Path
) -> None:
    ids = [f"c{n:05d}" for n in range(2500)]
    source = write_csv(tmp_path / "many.csv", [{"customer_id": i, "ltv": "1"} for i in ids])
    with redis.Redis.from_url(redis_url) as client, client.pubsub() as pubsub:
        pubsub.subscribe(settings(redis_url).invalidation_channel)
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
        load(redis_url, source, batch_size=1000)
        messages = [pubsub.get_message(timeout=5) for _ in range(3)]
    announced = [keys.invalidated_ids(m["data"]) for m in messages if m]
    assert [len(batch) for batch in announced] == [1000, 1000, 500]
    assert [i for batch in announced for i in batch] == ids


def peak_memory_of_loading(url: str, path: Path, rows: int) -> tuple[int, int]:
    """Peak bytes allocated while loading a demo file of ``rows`` rows, and the file's size."""
    with path.open("w", newline="") as out:
        demo.write_demo(out, rows, seed=5)
    redis_settings = settings(url)
    with redis_client.writer_client(redis_settings) as client:
        client.ping()  # connect before measuring
        tracemalloc.start()
        try:
            summary = loader.load_file(
                path, DEFAULT_POLICY, CustomerRecords(client, redis_settings)
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert summary.loaded == rows
    return peak, path.stat().st_size


def test_a_large_file_is_streamed_in_bounded_memory(redis_url: str, tmp_path: Path) -> None:
    small_peak, _ = peak_memory_of_loading(redis_url, tmp_path / "small.csv", 10_000)
    peak, size = peak_memory_of_loading(redis_url, tmp_path / "large.csv", 100_000)
    assert peak < size / 2, f"peak {peak:,} bytes for a file of {size:,} bytes"
    assert peak < 1.5 * small_peak, f"peak {peak:,} bytes, {small_peak:,} for a tenth of the rows"


def test_the_command_loads_and_reports(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "customers.csv", [*CUSTOMERS, {"customer_id": "bad id"}])
    status = main(["features", "load", str(source), "--redis-url", redis_url])
    out = capsys.readouterr().out
    assert status == 1  # one row rejected
    assert re.search(r"loaded +5\b", out)
    assert re.search(r"rejected +1\b", out)
    assert "platinum" in out
    assert "customers.rejects.csv" in out
    assert stored(redis_url) == EXPECTED


def test_the_command_fails_cleanly(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("customer_id,shoe_size\nc1,44\n")
    assert main(["features", "load", str(bad_header), "--redis-url", redis_url]) == 2
    assert "unknown column(s) shoe_size" in capsys.readouterr().err
    assert main(["features", "load", str(tmp_path / "missing.csv")]) == 2
    unreachable = "redis://127.0.0.1:1/0"
    good = write_csv(tmp_path / "customers.csv", CUSTOMERS)
    assert main(["features", "load", str(good), "--redis-url", unreachable]) == 2
    assert "re-running is safe" in capsys.readouterr().err


def test_plain_progress_lines_without_a_terminal(
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "PLAIN_PROGRESS_SECONDS", 0.0)
    ids = [f"c{n}" for n in range(3000)]
    source = write_csv(tmp_path / "many.csv", [{"customer_id": i, "ltv": "1"} for i in ids])
    assert (
        main(["features", "load", str(source), "--batch-size", "1000", "--redis-url", redis_url])
        == 0
    )
    progress = [line for line in capsys.readouterr().err.splitlines() if "rows read" in line]
    assert progress[0].startswith("1,000 rows read")
    assert progress[1].startswith("2,000 rows read")


def test_a_customer_on_several_rows_counts_once_in_its_last_tier(
    redis_url: str, tmp_path: Path
) -> None:
    """Counted as Redis holds them; the ids kept to count them are gone after the load."""
    rows = [
        {"customer_id": "whale", "ltv": "25000"},
        {"customer_id": "loyal", "ltv": "6000"},
        {"customer_id": "whale", "ltv": "10"},
        {"customer_id": "whale", "ltv": "300"},
    ]
    source = write_csv(tmp_path / "repeated.csv", rows, ["customer_id", "ltv"])

    summary = load(redis_url, source, batch_size=2)

    assert (summary.read, summary.loaded, summary.customers) == (4, 4, 2)
    assert summary.tiers == {"standard": 1, "gold": 1}
    assert (summary.duplicates, summary.duplicate_examples) == (2, ["whale"])
    assert stored(redis_url)["whale"]["tier"] == "standard"
    with redis.Redis.from_url(redis_url) as client:
        assert sorted(client.keys("*")) == [PREFIX.encode() + b"loyal", PREFIX.encode() + b"whale"]
