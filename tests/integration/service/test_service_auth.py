"""Callers against a real `tierline serve` with a callers file (and PolicyAdmin on): no token, a
wrong token, a token without explain asking for an explanation, a decide token on an admin RPC,
an admin token. Nothing an unauthenticated caller does reveals a feature or changes the policy.

The tokens travel as plaintext metadata here (TLS is tested in test_service_tls.py): the server
reads the same metadata either way."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import CUSTOMERS, TIMEOUT, ServerFactory, load_customers
from support.metrics import metric, scrape
from support.requests import request
from support.security import (
    TOKENS,
    WRONG_TOKEN,
    with_authorization,
    with_token,
    write_callers,
)
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc, policy_admin_pb2_grpc
from tierline.v1 import policy_admin_pb2 as admin_pb
from tierline_server.decisionlog import record

pytestmark = pytest.mark.integration

ENTITLEMENT = "/tierline.v1.EntitlementService/"
ADMIN = "/tierline.v1.PolicyAdminService/"
METHODS = {
    "Decide": (ENTITLEMENT, request("gold-1")),
    "DecideBatch": (ENTITLEMENT, pb.DecideBatchRequest(items=[request("gold-1")])),
    "GetPolicy": (ENTITLEMENT, pb.GetPolicyRequest()),
    "ValidatePolicy": (ADMIN, admin_pb.ValidatePolicyRequest(policy_text="policy: x")),
    "ReloadPolicy": (ADMIN, admin_pb.ReloadPolicyRequest()),
}
"""Every RPC of Tierline's own services, with a request for it."""
SERVING = health_pb2.HealthCheckResponse.SERVING
FEATURE_VALUES = {str(value) for features in CUSTOMERS.values() for value in features.values()}


@pytest.fixture(scope="module")
def callers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_callers(tmp_path_factory.mktemp("auth") / "callers.yaml")


@pytest.fixture(scope="module")
def secured(_session_redis: object, callers_file: Path) -> Iterator[TierlineProcess]:
    """One Tierline with the callers file and PolicyAdmin on, for the module."""
    url = _session_redis.url  # type: ignore[attr-defined]
    server = TierlineProcess(url, extra_args=["--enable-admin"], auth_file=callers_file).start()
    yield server
    server.stop()


@pytest.fixture
def server(secured: TierlineProcess, redis_url: str) -> TierlineProcess:
    load_customers(redis_url)
    return secured


def call(
    server: TierlineProcess, method: str, authorization: str | None = None, message: object = None
) -> object:
    """Call ``method`` (a request from METHODS unless ``message``), sending ``authorization``."""
    service, default = METHODS[method]
    with grpc.insecure_channel(server.target) as plain:
        channel = with_authorization(plain, authorization) if authorization else plain
        rpc = channel.unary_unary(
            service + method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda data: data,
        )
        return rpc(default if message is None else message, timeout=TIMEOUT)


def refusal(
    server: TierlineProcess, method: str, authorization: str | None = None
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        call(server, method, authorization)
    return refused.value


def refusals(server: TierlineProcess, reason: str) -> float:
    return metric(scrape(server.metrics_port), "tierline_auth_refusals_total", reason=reason)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_token_is_unauthenticated_for_every_method(server: TierlineProcess, method: str) -> None:
    before = refusals(server, "no_credentials")

    error = refusal(server, method)

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: Bearer TOKEN" in error.details()
    assert refusals(server, "no_credentials") == before + 1


def test_a_wrong_token_is_unauthenticated_and_never_logged(server: TierlineProcess) -> None:
    before = refusals(server, "unknown_token")

    error = refusal(server, "Decide", f"Bearer {WRONG_TOKEN}")

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "the bearer token is not known"
    assert refusals(server, "unknown_token") == before + 1
    # Logged at once, or summed up with others of its reason at the end of a 10 s period.
    wait_for(lambda: server.events("call refused", reason="unknown_token"), what="the event")
    assert server.events("call refused", reason="unknown_token")[0]["peer"].startswith(
        "ipv4:127.0.0.1:"
    )
    assert WRONG_TOKEN not in server.output


def test_an_authorization_that_is_not_a_bearer_token_is_unauthenticated(
    server: TierlineProcess,
) -> None:
    error = refusal(server, "GetPolicy", f"Basic {TOKENS['call-center']}")

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refusals(server, "malformed_credentials") >= 1
    assert TOKENS["call-center"] not in server.output


def test_an_unknown_caller_is_refused_before_its_request_is_parsed(
    server: TierlineProcess,
) -> None:
    garbage = b"\xff\x01 this is not a protobuf message"
    with grpc.insecure_channel(server.target) as channel:
        rpc = channel.unary_unary(ENTITLEMENT + "Decide")
        with pytest.raises(grpc.RpcError) as refused:
            rpc(garbage, timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError) as known:
            with_token(channel, TOKENS["call-center"]).unary_unary(ENTITLEMENT + "Decide")(
                garbage, timeout=TIMEOUT
            )

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert known.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # a known caller's is parsed


def test_a_decide_token_decides_but_may_not_ask_for_explanations(server: TierlineProcess) -> None:
    token = f"Bearer {TOKENS['call-center']}"
    decided = pb.DecideResponse.FromString(call(server, "Decide", token))  # type: ignore[arg-type]
    assert decided.decision.tier == "gold"
    assert not decided.decision.HasField("explanation")
    before = refusals(server, "explain_not_permitted")

    for method, message in (
        ("Decide", request("gold-1", explain=True)),
        ("DecideBatch", pb.DecideBatchRequest(items=[request("basic-1"), request(explain=True)])),
    ):
        with pytest.raises(grpc.RpcError) as denied:
            call(server, method, token, message)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "may not ask for explanations" in denied.value.details()
        assert not FEATURE_VALUES & set(denied.value.details().replace("(", " ").split())
    assert refusals(server, "explain_not_permitted") == before + 2


def test_an_explain_token_gets_the_features(server: TierlineProcess) -> None:
    answer = call(server, "Decide", f"Bearer {TOKENS['support-lead']}", request(explain=True))

    explanation = pb.DecideResponse.FromString(answer).decision.explanation  # type: ignore[arg-type]
    assert explanation.features["tier"] == "gold"
    assert explanation.features["tenure_days"] == "400"


@pytest.mark.parametrize("method", ["ValidatePolicy", "ReloadPolicy"])
def test_a_decide_token_on_an_admin_rpc_is_denied(server: TierlineProcess, method: str) -> None:
    error = refusal(server, method, f"Bearer {TOKENS['support-lead']}")

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == f"caller support-lead may not call {method} (it needs admin)"
    assert refusals(server, "not_permitted") >= 1


def test_an_admin_token_validates_and_reloads_and_nothing_else(server: TierlineProcess) -> None:
    token = f"Bearer {TOKENS['release']}"
    with grpc.insecure_channel(server.target) as channel:
        admin = policy_admin_pb2_grpc.PolicyAdminServiceStub(with_token(channel, TOKENS["release"]))
        validated = admin.ValidatePolicy(
            admin_pb.ValidatePolicyRequest(policy_text="policy: x"), timeout=TIMEOUT
        )
        reloaded = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT)

    assert not validated.valid
    assert validated.errors
    assert not reloaded.reloaded  # the files did not change
    assert reloaded.version == "2026.11.1"
    assert refusal(server, "Decide", token).code() == grpc.StatusCode.PERMISSION_DENIED


def test_health_and_reflection_stay_open(server: TierlineProcess) -> None:
    assert server.health() == SERVING  # asked without credentials
    with grpc.insecure_channel(server.target) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "tierline.v1.EntitlementService" in services
    assert "tierline.v1.PolicyAdminService" in services


def test_the_decision_log_names_the_caller(server: TierlineProcess, redis_url: str) -> None:
    answer = call(server, "Decide", f"Bearer {TOKENS['call-center']}", request("platinum-1"))
    decision_id = pb.DecideResponse.FromString(answer).decision.decision_id  # type: ignore[arg-type]

    def logged() -> record.DecisionRecord | None:
        with redis.Redis.from_url(redis_url) as client:
            for _, fields in client.xrange("tierline:decisions"):
                entry = record.decode(fields[record.FIELD.encode()])
                if entry.decision_id == decision_id:
                    return entry
        return None

    assert wait_for(logged, what="the decision in the log").caller == "call-center"


tokens = st.text(alphabet=string.ascii_letters + string.digits + "-._~+/=", max_size=64)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(sorted(METHODS)),
    authorization=st.one_of(
        st.none(),
        tokens.map(lambda token: f"Bearer {token}"),
        tokens,
        st.sampled_from([f"Bearer {t} " for t in TOKENS] + [f"bearer  {WRONG_TOKEN}"]),
    ),
    customer=st.sampled_from(sorted(CUSTOMERS)),
)
def test_an_unauthenticated_caller_reveals_no_feature_and_changes_no_policy(
    server: TierlineProcess, method: str, authorization: str | None, customer: str
) -> None:
    known = authorization is not None and authorization.strip().removeprefix("Bearer ").strip() in (
        TOKENS.values()
    )
    if known:
        return  # a known caller is not the subject here
    message = METHODS[method][1]
    if method == "Decide":
        message = request(customer, explain=True)
    with pytest.raises(grpc.RpcError) as refused:
        call(server, method, authorization, message)

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not FEATURE_VALUES & set(refused.value.details().split())
    with grpc.insecure_channel(server.target) as channel:
        policy = entitlement_pb2_grpc.EntitlementServiceStub(
            with_token(channel, TOKENS["call-center"])
        ).GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT)
    assert policy.policy.version == "2026.11.1"


def test_the_callers_file_is_read_again_when_it_changes(
    start_server: ServerFactory, redis_url: str, tmp_path: Path
) -> None:
    path = write_callers(tmp_path / "callers.yaml")
    server = start_server(redis_url, auth_file=path)
    rotated = "test-token-call-center-rotated-4b2e91"

    write_callers(path, tokens={**TOKENS, "call-center": rotated})

    def accepted(token: str) -> bool:
        try:
            call(server, "GetPolicy", f"Bearer {token}")
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            return False
        return True

    wait_for(lambda: accepted(rotated), what="the new token")
    assert not accepted(TOKENS["call-center"])
    path.write_text(
        "callers: [{name: broken, permissions: [decide], token_sha256: plain-token-x9}]\n"
    )
    # The file is looked at when calls come (a stat at most once a second).
    wait_for(
        lambda: accepted(rotated) and server.events("callers file rejected"),
        what="the rejected file",
    )
    assert accepted(rotated)  # a broken file locks nobody out
    assert "plain-token-x9" not in server.output  # what the file held is not repeated


def test_tokens_without_tls_are_warned_of_at_start(server: TierlineProcess) -> None:
    assert not server.events("authentication off")
    assert server.events("no tls", level="warning")


def test_the_unauthenticated_test_server_warns_at_start(
    start_server: ServerFactory, redis_url: str
) -> None:
    server = start_server(redis_url)

    assert server.events("authentication off", level="warning", address=server.target)


def test_reflection_can_be_turned_off(start_server: ServerFactory, redis_url: str) -> None:
    server = start_server(redis_url, extra_args=["--reflection", "false"])

    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as off:
        ProtoReflectionDescriptorDatabase(channel).get_services()
    assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert server.health() == SERVING
