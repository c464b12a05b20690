"""The decision log's settings: flags, environment twins, one-line errors, a key never shown."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest
from tierline_server.cli import main
from tierline_server.commands.options import add_settings, settings_from
from tierline_server.commands.serve import effective
from tierline_server.config import DecisionLogSettings, ServerConfig, instant, share

SECRET = "a-secret-key-of-some-length"


def parse(*argv: str) -> ServerConfig:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_settings(parser, ServerConfig)
    return settings_from(ServerConfig, parser.parse_args(argv))


def test_flags_set_the_nested_settings() -> None:
    config = parse(
        "--decision-log", "false", "--decision-log-stream", "log:x",
        "--decision-log-sample-batch", "0.25", "--decision-log-max-age", "86400",
    )  # fmt: skip

    assert config.decision_log == DecisionLogSettings(
        enabled=False, stream="log:x", sample_batch=0.25, max_age_seconds=86400.0
    )


def test_the_environment_sets_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERLINE_DECISION_LOG_CUSTOMER_KEY", SECRET)

    assert parse().decision_log.customer_key == SECRET


def test_the_logged_configuration_masks_the_key_and_the_redis_password() -> None:
    config = parse(
        "--decision-log-customer-key", SECRET, "--redis-url", "redis://:hunter2@db:6379/0"
    )

    shown = effective(config)

    assert shown["decision_log"]["customer_key"] == "***"
    assert shown["redis"]["url"] == "redis://:***@db:6379/0"
    assert shown["decision_log"]["stream"] == "tierline:decisions"
    assert SECRET not in json.dumps(shown)
    assert "hunter2" not in json.dumps(shown)


def test_a_bad_key_is_refused_without_being_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIERLINE_DECISION_LOG_CUSTOMER_KEY", "short-secret")
    parser = argparse.ArgumentParser(prog="tierline serve")
    add_settings(parser, ServerConfig)

    with pytest.raises(SystemExit):
        parser.parse_args([])

    error = capsys.readouterr().err
    assert "--decision-log-customer-key" in error
    assert "at least 16 bytes" in error
    assert "short-secret" not in error


def test_a_key_file_must_be_readable_and_hold_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path in (tmp_path / "missing", empty):
        parser = argparse.ArgumentParser(prog="tierline serve")
        add_settings(parser, ServerConfig)
        with pytest.raises(SystemExit):
            parser.parse_args(["--decision-log-customer-key-file", str(path)])
        assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "0.5", "1", "1.0"])
def test_a_share_is_from_0_to_1(text: str) -> None:
    assert share(text) == float(text)


@pytest.mark.parametrize("text", ["-0.1", "1.5", "nan", "half"])
def test_other_shares_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        share(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-03", 1793664000.0),
        ("2026-11-03T10:00", 1793700000.0),
        ("2026-11-03T10:00:00Z", 1793700000.0),
        ("2026-11-03T11:00:00+01:00", 1793700000.0),
    ],
)
def test_an_instant_in_iso_8601_is_utc_unless_it_says(text: str, expected: float) -> None:
    assert instant(text) == expected


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1.5d", 129600)]
)
def test_an_instant_as_a_duration_is_that_long_ago(text: str, seconds: float) -> None:
    assert instant(text) == pytest.approx(time.time() - seconds, abs=5)


@pytest.mark.parametrize("text", ["yesterday", "15 minutes", "2026-13-01", ""])
def test_other_instants_are_refused_saying_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 8601 .* or a duration ago"):
        instant(text)


def test_serve_refuses_a_key_and_a_key_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET)

    both = ["--decision-log-customer-key", SECRET]
    both += ["--decision-log-customer-key-file", str(key_file)]
    status = main(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", *both])

    assert status == 2
    log = capsys.readouterr().err
    error = json.loads(log.strip().splitlines()[-1])
    assert error["event"] == "not serving"
    assert error["reason"].startswith("--decision-log-customer-key and")
    assert SECRET not in log
