"""`tierline serve` refuses TLS and authentication settings that cannot work together, in one line
naming the options, before it binds anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.security import Pki, write_callers
from tierline_server.cli import main

BASE = ["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]


@pytest.fixture
def callers(tmp_path: Path) -> Path:
    return write_callers(tmp_path / "callers.yaml", {"call-center": ("decide",)})


@pytest.fixture(autouse=True)
def _restore_logging(restored_logging: None) -> None:
    """`tierline serve` configures the process's log: each test gets it back as it was."""


def refusal(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Why `tierline serve ARGS` exits 2: the reason of its one error event, as
    ``not serving: REASON``."""
    assert main([*BASE, *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [event for event in map(json.loads, lines) if event["level"] == "error"]
    assert len(errors) == 1, lines
    return f"{errors[0]['event']}: {errors[0]['reason']}"


def test_serving_needs_a_callers_file_or_an_explicit_no_auth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert refusal(capsys).startswith(
        "not serving: no --auth-file (TIERLINE_AUTH_FILE): give the file of callers"
    )


def test_admin_is_never_served_without_authentication(capsys: pytest.CaptureFixture[str]) -> None:
    assert refusal(capsys, "--insecure-no-auth", "--enable-admin") == (
        "not serving: --enable-admin needs --auth-file: PolicyAdminService is never open to "
        "anonymous callers (--insecure-no-auth)"
    )


def test_admin_needs_a_caller_with_admin(capsys: pytest.CaptureFixture[str], callers: Path) -> None:
    assert refusal(capsys, "--auth-file", str(callers), "--enable-admin") == (
        f"not serving: --enable-admin: no caller of --auth-file {callers} has the admin permission"
    )


def test_a_callers_file_and_no_auth_contradict(
    capsys: pytest.CaptureFixture[str], callers: Path
) -> None:
    assert refusal(capsys, "--auth-file", str(callers), "--insecure-no-auth") == (
        "not serving: --auth-file and --insecure-no-auth contradict each other: give one"
    )


def test_a_plain_token_in_the_callers_file_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "callers.yaml"
    path.write_text("callers: [{name: a, permissions: [decide], token_sha256: hunter2-token}]\n")

    line = refusal(capsys, "--auth-file", str(path))

    assert line.startswith(f"not serving: --auth-file {path}: callers[0].token_sha256: ")
    assert "hunter2-token" not in line


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert and --tls-key (TIERLINE_TLS_CERT, TIERLINE_TLS_"),
        (["--tls-client-ca", "{ca}"], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--metrics-tls"], "--metrics-tls needs --tls-cert and --tls-key"),
    ],
)  # fmt: skip
def test_tls_settings_that_do_not_go_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, given: list[str], complaint: str
) -> None:
    pki = Pki(tmp_path / "pki")
    pair = pki.server()
    args = [arg.format(cert=pair.cert, ca=pki.ca_file) for arg in given]

    line = refusal(capsys, "--insecure-no-auth", *args)

    assert line.startswith(f"not serving: {complaint}")


def test_a_tls_file_that_cannot_be_read_is_an_argument_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main([*BASE, "--insecure-no-auth", "--tls-cert", str(tmp_path / "nowhere.pem")])

    assert exit_status.value.code == 2
    assert "--tls-cert: '" in capsys.readouterr().err


def test_redis_tls_files_need_a_tls_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ca = Pki(tmp_path / "pki").ca_file
    given = ["--redis-url", "redis://127.0.0.1:6379/0", "--redis-tls-ca", str(ca)]

    assert refusal(capsys, "--insecure-no-auth", *given) == (
        "not serving: --redis-tls-ca, --redis-tls-cert and --redis-tls-key need a TLS URL: "
        "rediss:// (or rediss+cluster://), not redis://"
    )
