"""Where durable-rules cannot load (CPython 3.13), the CLI says why instead of crashing."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from tierline_server import cli
from tierline_server.policy import engine


@pytest.fixture
def durable_missing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make `import durable` fail as it does on 3.13; restore the real engine afterwards."""
    engine._durable.cache_clear()
    monkeypatch.setitem(sys.modules, "durable", None)
    yield
    engine._durable.cache_clear()


@pytest.mark.usefixtures("durable_missing")
def test_policy_check_explains_an_engine_that_cannot_load(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2 with the supported Python versions named, no traceback."""
    assert cli.main(["policy", "check", "--policy", "rules"]) == 2
    err = capsys.readouterr().err
    assert "cannot load on this Python" in err
    assert "3.10, 3.11 or 3.12" in err
    assert "Traceback" not in err
