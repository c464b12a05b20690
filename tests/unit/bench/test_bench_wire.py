"""How the benchmark puts the mix on the wire: the same requests in every protocol."""

from __future__ import annotations

import json
from pathlib import Path

import mix
import pytest
import wire
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from tierline.v1 import entitlement_pb2 as pb

BY_TIER = {tier: [f"{tier}-{n}" for n in range(3)] for tier in mix.TIERS}
"""Customers of every tier, as mix.customers_by_tier finds them in Redis."""


@given(count=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_a_connect_json_body_is_the_very_request_of_the_grpc_body(count: int, seed: int) -> None:
    for body in mix.decide_bodies(BY_TIER, count, seed):
        sent = wire.connect_json(body)

        assert json_format.Parse(sent, pb.DecideRequest()) == pb.DecideRequest.FromString(
            body.message
        )
        assert b"\n" not in sent  # one line, as a flow builder posts it
        assert "customerId" in json.loads(sent)  # the JSON mapping's names, lowerCamelCase


def test_a_batch_body_goes_as_a_batch_request() -> None:
    (body,) = mix.batch_bodies(BY_TIER, 1, 5, seed=1)

    sent = json_format.Parse(wire.connect_json(body), pb.DecideBatchRequest())

    assert [item.customer_id for item in sent.items] == [e.customer_id for e in body.expected]


def test_a_grpc_body_is_the_message_behind_its_length_prefix() -> None:
    (body,) = mix.decide_bodies(BY_TIER, 1, seed=3)

    framed = wire.grpc_framed(body)

    assert framed[0] == 0  # not compressed
    assert int.from_bytes(framed[1:5], "big") == len(body.message)
    assert framed[5:] == body.message


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("grpc", ["-H", "content-type: application/grpc", "-H", "te: trailers"]),
        ("connect-json", ["-H", "content-type: application/json"]),
        ("connect-json-h1", ["-H", "content-type: application/json", "--h1"]),
        ("connect-proto", ["-H", "content-type: application/proto"]),
    ],
)
def test_h2load_is_told_the_protocol_s_headers_and_http_version(
    key: str, expected: list[str]
) -> None:
    assert wire.PROTOCOLS[key].h2load_arguments == expected


def test_every_body_is_written_to_a_file_of_its_own(tmp_path: Path) -> None:
    bodies = mix.decide_bodies(BY_TIER, 3, seed=2)

    grpc_files = wire.GRPC.write(bodies, tmp_path, "decide")
    json_files = wire.PROTOCOLS["connect-json"].write(bodies, tmp_path, "decide")

    assert len(set(grpc_files) | set(json_files)) == 6
    assert [path.read_bytes() for path in json_files] == [wire.connect_json(b) for b in bodies]
