"""The sync-model experiment: its command line, and running a decision without an event loop."""

from __future__ import annotations

import asyncio

import pytest
import servers
import sync_model


def test_models_are_sync_servers_with_their_threads_processes_and_pinning() -> None:
    models = sync_model.parse_args(["--models", "sync4:2:pin,sync8"]).models

    assert models == [
        servers.EchoModel("sync", threads=4, processes=2, pinned=True),
        servers.EchoModel("sync", threads=8),
    ]
    assert [model.label for model in models] == ["sync/4 x2 pinned", "sync/8"]


def test_an_asyncio_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sync_model.parse_args(["--models", "sync4,aio:2"])

    assert "each model is syncN[:N processes][:pin]" in capsys.readouterr().err


def test_a_coroutine_that_never_suspends_runs_to_its_result() -> None:
    async def answer() -> int:
        async def inner() -> int:
            return 41

        return await inner() + 1

    assert sync_model.run_to_end(answer()) == 42


def test_a_coroutine_that_suspends_is_refused_and_closed() -> None:
    finished = []

    async def waits() -> None:
        try:
            await asyncio.sleep(0)
        finally:
            finished.append(True)

    with pytest.raises(RuntimeError, match="needs an event loop"):
        sync_model.run_to_end(waits())
    assert finished == [True]
