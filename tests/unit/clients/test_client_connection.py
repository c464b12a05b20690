"""The gRPC service config (retries, round_robin), channel options and credentials."""

from __future__ import annotations

import json

import pytest
from tierline import Keepalive, RetryPolicy, TlsConfig
from tierline.connection import call_metadata, channel_options, service_config


def test_service_config_balances_round_robin_waits_for_ready_and_retries() -> None:
    config = service_config(RetryPolicy())
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    [method] = config["methodConfig"]
    assert method["name"] == [{"service": "tierline.v1.EntitlementService"}]
    assert method["waitForReady"] is True
    assert method["retryPolicy"] == {
        "maxAttempts": 3,
        "initialBackoff": "0.005s",
        "maxBackoff": "0.05s",
        "backoffMultiplier": 2.0,
        "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
    }
    assert config["retryThrottling"] == {"maxTokens": 10, "tokenRatio": 0.1}


def test_durations_are_protobuf_json() -> None:
    retry = RetryPolicy(max_attempts=5, initial_backoff=1.0, max_backoff=2.5)
    policy = service_config(retry)["methodConfig"][0]["retryPolicy"]
    assert (policy["maxAttempts"], policy["initialBackoff"], policy["maxBackoff"]) == (
        5, "1s", "2.5s",
    )  # fmt: skip


def test_no_retry_policy_without_retries() -> None:
    config = service_config(None)
    [method] = config["methodConfig"]
    assert "retryPolicy" not in method
    assert "retryThrottling" not in config
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert dict(channel_options(None, None))["grpc.enable_retries"] == 0


@pytest.mark.parametrize(
    "arguments",
    [{"max_attempts": 1}, {"max_attempts": 6}, {"initial_backoff": 0}, {"backoff_multiplier": -1}],
)
def test_retry_policy_rejects_what_grpc_would_ignore(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**arguments)  # type: ignore[arg-type]


def test_channel_options_carry_service_config_keepalive_and_fast_reconnects() -> None:
    options = dict(channel_options(RetryPolicy(), Keepalive(time=20, timeout=2), version="1.2"))
    assert json.loads(options["grpc.service_config"]) == service_config(RetryPolicy())
    assert options["grpc.enable_retries"] == 1
    assert options["grpc.keepalive_time_ms"] == 20_000
    assert options["grpc.keepalive_timeout_ms"] == 2_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.max_reconnect_backoff_ms"] <= 5_000
    assert options["grpc.primary_user_agent"] == "tierline-python/1.2"
    assert len(options) == len(channel_options(RetryPolicy(), Keepalive(), version="1.2"))


def test_extra_options_override_the_clients() -> None:
    options = channel_options(
        RetryPolicy(),
        None,
        extra={"grpc.max_reconnect_backoff_ms": 9000, "grpc.lb_policy_name": "x"},
    )
    assert options.count(("grpc.max_reconnect_backoff_ms", 9000)) == 1
    assert [key for key, _ in options].count("grpc.max_reconnect_backoff_ms") == 1
    assert ("grpc.lb_policy_name", "x") in options
    assert not any(key.startswith("grpc.keepalive") for key, _ in options)


def test_tls_server_name_overrides_the_target_name() -> None:
    options = dict(channel_options(None, None, TlsConfig(server_name="tierline.internal")))
    assert options["grpc.ssl_target_name_override"] == "tierline.internal"


def test_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="private_key"):
        TlsConfig(certificate_chain=b"cert")


def test_token_travels_as_call_credentials_with_tls_and_never_in_clear_by_accident() -> None:
    assert call_metadata(TlsConfig(), "t0k", insecure_token=False) == ()
    assert call_metadata(None, None, insecure_token=False) == ()
    with pytest.raises(ValueError, match="needs TLS"):
        call_metadata(None, "t0k", insecure_token=False)
    assert call_metadata(None, "t0k", insecure_token=True) == (("authorization", "Bearer t0k"),)
