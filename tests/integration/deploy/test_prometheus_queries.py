"""Every dashboard query and rule expression in deploy/ returns data from a real Prometheus that
scrapes a real Tierline (over a real Redis) after some traffic.

Two checks per expression: the expression itself returns data (for an alert, its signal: the
expression without its threshold comparisons and absent(), since a healthy service fires none),
and so does every series selector in it, so that a misspelt metric or label value fails even
inside an ``or``. Label values are pre-initialised by the service, so every selector matches;
the service runs with a shadow policy, since only then does it export the shadow's series, and
with a callers file, so that it refuses a caller with a wrong token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import grpc
import promql_parser
import pytest
from support.customers import write_features
from support.deploy_files import (
    ALERTS,
    Expression,
    alerting_rules,
    dashboard_queries,
    dashboard_variables,
    recorded_series,
    recording_rules,
)
from support.policies import raised_threshold
from support.prometheus_server import PrometheusServer, QueryError
from support.redis_server import RedisServer
from support.requests import request
from support.security import TOKENS, WRONG_TOKEN, with_token, write_callers
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

JOB = "tierline"
"""The scrape job's name: the one alerts.yaml and the compose stack use."""
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1m",
    "$job": JOB,
    "$instance": ".*",
}
"""What Grafana would put in the queries (the dashboard's variables and Grafana's own)."""
TRAFFIC_SECONDS = 4.0
"""Long enough for several scrapes, so that rate() has two samples or more."""
TIMEOUT = 10.0
CUSTOMERS = {
    "gold-1": {"tier": "gold", "ltv": 7000, "tenure_days": 400},
    "platinum-1": {"tier": "platinum", "ltv": 25000, "tenure_days": 900},
}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
MAX_IN_FLIGHT = 3
"""Low enough that a batch of one more item is always shed, so that the dashboard's shed load
has data; the test's own calls, one at a time, never come near it."""
SHADOWED_PURCHASE_MINOR = 6000
"""60.00 euros: free shipping under the served policy (from 50), not under the candidate (from
75), so that the shadow panels show differences."""


def grafana(promql: str) -> str:
    """A dashboard query as Grafana sends it."""
    for variable, value in GRAFANA_VARIABLES.items():
        promql = promql.replace(variable, value)
    assert "$" not in promql, f"a dashboard variable this test does not know: {promql}"
    return promql


def selectors(promql: str) -> list[str]:
    """Every series selector in an expression, as PromQL."""
    found: list[promql_parser.VectorSelector] = []
    promql_parser.walk(
        promql_parser.parse(promql),
        lambda node: found.append(node) if isinstance(node, promql_parser.VectorSelector) else None,
    )
    return [str(selector) for selector in found]


def signal(promql: str) -> str:
    """An alert's expression without its thresholds: what it measures, whether it fires or not."""

    def strip(node: promql_parser.Expr) -> promql_parser.Expr | None:
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) in COMPARISONS:
            return node.lhs if selectors(node.lhs.prettify()) else node.rhs
        if isinstance(node, promql_parser.Call) and node.func.name in (
            "absent",
            "absent_over_time",
        ):
            return node.args[0]
        return None

    stripped: str = promql_parser.transform(
        promql_parser.parse(promql), post_visit=strip
    ).prettify()
    return stripped


def problems(prometheus: PrometheusServer, promql: str) -> list[str]:
    """Why ``promql`` or a selector in it returns no data (empty when all of them do)."""
    try:
        queries = [promql, *selectors(promql)]
    except ValueError as error:
        return [f"{promql}: does not parse: {error}"]
    found = []
    for query in queries:
        try:
            result = prometheus.query(query)
        except QueryError as error:
            found.append(f"{query}: {error}")
            continue
        if not any(math.isfinite(float(sample["value"][1])) for sample in result):
            found.append(f"{query}: no data" if not result else f"{query}: only {result}")
    return found


def decide_for_a_while(target: str) -> int:
    """Decisions of every kind the dashboard shows (near-cache hits and misses, unknown
    customers, batches, invalid requests, shed calls, purchases the shadow decides otherwise,
    calls refused for a wrong token); returns how many decisions were made."""
    decisions = 0
    with grpc.insecure_channel(target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(
            with_token(channel, TOKENS["call-center"])
        )
        stranger = entitlement_pb2_grpc.EntitlementServiceStub(with_token(channel, WRONG_TOKEN))
        context = pb.InteractionContext(channel=pb.CHANNEL_PHONE, intent="cancel")
        deadline = time.monotonic() + TRAFFIC_SECONDS
        while time.monotonic() < deadline:
            for customer in [*CUSTOMERS, f"someone-new-{decisions}"]:
                stub.Decide(
                    pb.DecideRequest(customer_id=customer, context=context), timeout=TIMEOUT
                )
                decisions += 1
            purchase = request(
                f"someone-new-{decisions}",
                pb.CHANNEL_WEB,
                intent="purchase",
                order_value_minor=SHADOWED_PURCHASE_MINOR,
                currency="EUR",
            )
            stub.Decide(purchase, timeout=TIMEOUT)
            decisions += 1
            items = [pb.DecideRequest(customer_id=c, context=context) for c in CUSTOMERS]
            stub.DecideBatch(pb.DecideBatchRequest(items=items), timeout=TIMEOUT)
            decisions += len(items)
            with pytest.raises(grpc.RpcError):
                stub.Decide(
                    pb.DecideRequest(customer_id="not valid", context=context), timeout=TIMEOUT
                )
            too_many = [pb.DecideRequest(customer_id="gold-1", context=context)] * MAX_IN_FLIGHT
            with pytest.raises(grpc.RpcError) as shed:
                stub.DecideBatch(pb.DecideBatchRequest(items=[*too_many, *items]), timeout=TIMEOUT)
            assert shed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.RpcError) as refused:
                stranger.Decide(purchase, timeout=TIMEOUT)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            time.sleep(0.05)
    return decisions


@pytest.fixture(scope="module")
def prometheus(
    _session_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """Prometheus with alerts.yaml loaded, once it has scraped Tierline's counts after some
    traffic (the shadow's too) and evaluated the recording rules on them."""
    write_features(_session_redis.url, CUSTOMERS)
    directory = tmp_path_factory.mktemp("tierline")
    candidate = raised_threshold(directory)
    tierline = TierlineProcess(
        _session_redis.url,
        auth_file=write_callers(directory / "callers.yaml"),
        extra_args=[
            *("--redis-timeout", "1", "--max-in-flight", str(MAX_IN_FLIGHT)),
            *("--shadow-policy", str(candidate)),
        ],
    ).start()
    server = PrometheusServer(
        tmp_path_factory.mktemp("prometheus"),
        job=JOB,
        targets=[f"127.0.0.1:{tierline.metrics_port}"],
        rule_files=[ALERTS],
    ).start()
    try:
        decisions = decide_for_a_while(tierline.target)
        wait_for(
            lambda: _value(server, "sum(tierline_decisions_total)") == decisions,
            what=f"Prometheus scraped all {decisions} decisions",
        )
        wait_for(
            lambda: _value(server, "sum(tierline_shadow_decisions_total)") == decisions,
            what=f"Prometheus scraped the shadow's {decisions} decisions",
        )
        scraped = time.time()
        wait_for(
            lambda: all(
                _value(server, f"timestamp({series})") > scraped for series in recorded_series()
            ),
            what="the recording rules evaluated on the final counts",
        )
        yield server
    finally:
        server.stop()
        tierline.stop()


def _value(prometheus: PrometheusServer, promql: str) -> float:
    """The single value ``promql`` returns now (nan when it returns nothing)."""
    result = prometheus.query(promql)
    return float(result[0]["value"][1]) if result else math.nan


@pytest.mark.parametrize("expression", dashboard_queries(), ids=str)
def test_dashboard_query_returns_data(prometheus: PrometheusServer, expression: Expression) -> None:
    assert problems(prometheus, grafana(expression.promql)) == []


@pytest.mark.parametrize(
    ("name", "selector", "label"), dashboard_variables(), ids=[v[0] for v in dashboard_variables()]
)
def test_dashboard_variable_has_values(
    prometheus: PrometheusServer, name: str, selector: str, label: str
) -> None:
    result = prometheus.query(grafana(selector))

    assert {sample["metric"].get(label) for sample in result} - {None}, f"${name}: no {label}"


@pytest.mark.parametrize("expression", recording_rules(), ids=str)
def test_recording_rule_returns_data(prometheus: PrometheusServer, expression: Expression) -> None:
    assert problems(prometheus, expression.promql) == []


@pytest.mark.parametrize("expression", alerting_rules(), ids=str)
def test_alert_signal_returns_data(prometheus: PrometheusServer, expression: Expression) -> None:
    assert problems(prometheus, signal(expression.promql)) == []


def test_every_rule_evaluates_without_error(prometheus: PrometheusServer) -> None:
    rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]

    assert len(rules) == len(recording_rules()) + len(alerting_rules())
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []


@pytest.mark.parametrize(
    "promql",
    [
        "sum(rate(tierline_decisions_totl[1m]))",  # a metric that does not exist
        'sum(rate(tierline_decision_duration_seconds_count{outcome="okay"}[1m]))',  # a label value
        "tierline_redis_circuit_open or tierline_no_such_gauge",  # hidden behind an `or`
        "sum(rate(tierline_decisions_total[1m])",  # not PromQL
    ],
)
def test_an_expression_naming_what_does_not_exist_is_caught(
    prometheus: PrometheusServer, promql: str
) -> None:
    assert problems(prometheus, promql) != []


def test_signal_strips_thresholds_and_absent() -> None:
    assert signal('absent(up{job="tierline"} == 1)') == 'up{job="tierline"}'
    assert signal("(a > 0.1 and b > 0.1) or 2 < c") == "(a and b) or c"
    assert signal("increase(x[5m]) > 0") == "increase(x[5m])"
