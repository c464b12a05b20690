"""The load harness's command line and the targets it drives."""

from __future__ import annotations

from pathlib import Path

import mix
import pytest
import servers
import wire

import service

BY_TIER = {tier: [f"{tier}-{n}" for n in range(3)] for tier in mix.TIERS}


def test_protocols_are_chosen_by_name_or_all() -> None:
    assert service.parse_args([]).protocols == [wire.GRPC]
    chosen = service.parse_args(["--protocols", "grpc,connect-json-h1"]).protocols
    assert [protocol.key for protocol in chosen] == ["grpc", "connect-json-h1"]
    assert service.parse_args(["--protocols", "all"]).protocols == list(wire.PROTOCOLS.values())


def test_an_unknown_protocol_is_refused_with_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        service.parse_args(["--protocols", "grpc,rest"])

    error = capsys.readouterr().err
    assert "--protocols" in error
    assert "['rest']: choose from grpc, connect-json, connect-json-h1, connect-proto" in error


def test_several_streams_on_one_http1_connection_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        service.parse_args(
            ["--in-flight", "16", "--streams", "16", "--protocols", "grpc,connect-json-h1"]
        )

    assert "--streams 16" in capsys.readouterr().err
    assert service.parse_args(["--in-flight", "16", "--streams", "16"]).streams == 16


def test_each_method_s_protocols_are_side_by_side_and_grpc_keeps_its_name(
    tmp_path: Path,
) -> None:
    args = service.parse_args(["--protocols", "grpc,connect-json,connect-json-h1"])
    server = servers.Server(
        "tierline 1 process, near-cache on", "127.0.0.1:1", [], http_target="127.0.0.1:2"
    )
    decide = mix.decide_bodies(BY_TIER, 2, seed=1)
    batch = mix.batch_bodies(BY_TIER, 1, args.batch_items, seed=1)

    targets = service.tierline_targets(args, [server], decide, batch, tmp_path)

    assert [target.name for target in targets] == [
        "Decide · 1 process, near-cache on",
        "Decide · 1 process, near-cache on · connect-json h2",
        "Decide · 1 process, near-cache on · connect-json http1",
        "DecideBatch(100) · 1 process, near-cache on",
        "DecideBatch(100) · 1 process, near-cache on · connect-json h2",
        "DecideBatch(100) · 1 process, near-cache on · connect-json http1",
    ]
    assert [target.url for target in targets[:2]] == [
        "http://127.0.0.1:1/tierline.v1.EntitlementService/Decide",
        "http://127.0.0.1:2/tierline.v1.EntitlementService/Decide",
    ]
    assert targets[1].files[0].read_bytes() == wire.connect_json(decide[0])
