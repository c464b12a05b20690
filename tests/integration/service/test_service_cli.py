"""`tierline decide`, `tierline health` and `tierline features set` against a running server and
a real Redis."""

from __future__ import annotations

import json

import pytest
from grpc_health.v1 import health_pb2
from service_support import ServerFactory
from support.command import tierline
from support.redis_server import RedisServer
from support.tierline_process import TierlineProcess, free_port
from support.waiting import wait_for

pytestmark = pytest.mark.integration

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_decide_prints_the_decision_as_a_table(server: TierlineProcess) -> None:
    result = tierline(
        "decide", "gold-1", "--channel", "phone", "--intent", "cancel", "--target", server.target
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "premium (rank 2)" in out
    assert "gold-1 (tier gold)" in out
    assert "retention" in out
    assert "retention-discount 20%" in out
    assert "free-shipping" in out
    assert "retention-offer" in out
    assert "wait <= 120s" in out


def test_decide_json_is_the_decision_in_proto_json(server: TierlineProcess) -> None:
    result = tierline(
        "decide", "gold-1", "--channel", "web", "--intent", "purchase",
        "--order-value", "59.90", "--currency", "EUR", "--items", "2",
        "--attr", "campaign=spring-2026", "--explain", "--json", "--target", server.target,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["customerId"] == "gold-1"
    assert decision["serviceLevel"]["name"] == "premium"
    assert decision["serviceLevel"]["sla"]["maxWaitSeconds"] == 120
    assert decision["baselineApplied"] is True
    assert decision["metrics"]["featureSource"] in (
        "FEATURE_SOURCE_REDIS",
        "FEATURE_SOURCE_NEAR_CACHE",
    )
    assert int(decision["metrics"]["totalMicros"]) > 0  # int64: a string in canonical JSON
    assert {"free-shipping", "campaign-discount", "loyalty-multiplier"} <= {
        perk["code"] for perk in decision["perks"]
    }
    assert decision["explanation"]["context"]["order_value"] == "5990"
    assert decision["explanation"]["context"]["item_count"] == "2"
    assert decision["explanation"]["features"]["tier"] == "gold"
    assert "campaign-code" in [rule["ruleId"] for rule in decision["explanation"]["rules"]]


def test_decide_for_an_unknown_customer(server: TierlineProcess) -> None:
    result = tierline("decide", "never-seen-cli", "--channel", "chat", "--target", server.target)

    assert result.returncode == 0, result.stderr
    assert "tier unknown" in result.stdout
    assert "onboarding-guide" in result.stdout


def test_decide_reports_every_violation_once_and_exits_1(server: TierlineProcess) -> None:
    result = tierline(
        "decide", "bad id", "--channel", "phone", "--intent", "Cancel", "--target", server.target
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "INVALID_ARGUMENT: the request is invalid",
        "  customer_id: must be 1-128 characters of A-Z a-z 0-9 . _ : @ -",
        "  context.intent: must be at most 64 characters of a-z 0-9 _ . -",
    ]
    assert result.stdout == ""


def test_decide_sends_each_currency_in_its_own_minor_units(server: TierlineProcess) -> None:
    """5000 JPY is 5000 minor units (yen have no decimals), 5.123 KWD is 5123; codes in any
    case; channels by any of their names."""
    for amount, currency, minor in [("5000", "jpy", "5000"), ("5.123", "KWD", "5123")]:
        result = tierline(
            "decide", "gold-1", "--channel", "mobile-app", "--order-value", amount,
            "--currency", currency, "--explain", "--json", "--target", server.target,
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        context = json.loads(result.stdout)["explanation"]["context"]
        assert (context["order_value"], context["currency"]) == (minor, currency.upper())
        assert context["channel"] == "mobile_app"


def test_a_yen_order_ships_free_from_8000_not_from_5000(server: TierlineProcess) -> None:
    """The default policy's free-shipping threshold in yen is its own, not 5000 minor units."""
    shipped = {}
    for amount in ("5000", "8000"):
        result = tierline(
            "decide", "basic-1", "--channel", "CHANNEL_WEB", "--order-value", amount,
            "--currency", "JPY", "--json", "--target", server.target,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        perks = json.loads(result.stdout)["perks"]
        shipped[amount] = "free-shipping" in {perk["code"] for perk in perks}
    assert shipped == {"5000": False, "8000": True}


def test_decide_against_no_server_fails_cleanly() -> None:
    result = tierline(
        "decide", "gold-1", "--channel", "web", "--target", f"127.0.0.1:{free_port()}"
    )

    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
    assert "Traceback" not in result.stderr


def test_features_set_then_decide(server: TierlineProcess, redis_url: str) -> None:
    written = tierline(
        "features", "set", "cli-customer-1", "tier=platinum", "tenure_days=500",
        "--redis-url", redis_url,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr

    result = tierline(
        "decide", "cli-customer-1", "--channel", "phone", "--json", "--target", server.target
    )

    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["tier"] == "platinum"
    assert decision["serviceLevel"]["name"] == "concierge"
    assert decision["routing"]["queue"] == "concierge"


def test_health_of_a_serving_server_exits_0(server: TierlineProcess) -> None:
    overall = tierline("health", "--target", server.target)
    entitlement = tierline(
        "health", "--target", server.target, "--service", "tierline.v1.EntitlementService"
    )

    assert (overall.returncode, overall.stdout) == (0, f"{server.target}: SERVING\n")
    assert entitlement.returncode == 0, entitlement.stdout + entitlement.stderr
    assert entitlement.stdout.endswith("'tierline.v1.EntitlementService': SERVING\n")


def test_health_of_a_not_serving_entry_exits_1_saying_so(
    start_server: ServerFactory, redis_server: RedisServer
) -> None:
    server = start_server(redis_server.url)
    redis_server.stop()  # the server keeps serving; its Redis entry goes NOT_SERVING
    wait_for(
        lambda: server.health("tierline.features") == NOT_SERVING,
        what="tierline.features NOT_SERVING",
    )

    redis = tierline("health", "--target", server.target, "--service", "tierline.features")
    overall = tierline("health", "--target", server.target)

    assert redis.returncode == 1
    assert redis.stdout == f"{server.target} 'tierline.features': NOT_SERVING\n"
    assert overall.returncode == 0  # decisions still come, degraded


def test_health_of_an_unknown_entry_exits_1(server: TierlineProcess) -> None:
    result = tierline("health", "--target", server.target, "--service", "no.such.Service")

    assert result.returncode == 1
    assert (
        result.stdout
        == f"{server.target} 'no.such.Service': SERVICE_UNKNOWN (the server has no such entry)\n"
    )


def test_health_without_a_server_exits_1_in_one_line() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = tierline("health", "--target", target, "--timeout", "2")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{target}: no answer: UNAVAILABLE")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_health_with_a_bad_timeout_exits_2_naming_it(value: str) -> None:
    result = tierline("health", "--timeout", value)

    assert result.returncode == 2
    assert result.stderr == (
        f"tierline health: argument --timeout: {value!r} must be a number of seconds more "
        "than 0 (see tierline health -h)\n"
    )
