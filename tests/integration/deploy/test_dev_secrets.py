"""deploy/secrets/dev-secrets.sh and the Compose stack's Tierline settings, run for real: the
script's CA, certificate, callers file and tokens serve a real `tierline serve` configured by the
environment compose.yaml gives it, and `tierline decide` gets through with the `demo` caller's
token over TLS, as the README's `docker compose exec tierline tierline decide ...` would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from support.customers import write_features
from support.paths import REPO
from support.security import tls_credentials, with_token
from support.tierline_process import TierlineProcess
from tierline.v1 import policy_admin_pb2 as admin_pb
from tierline.v1 import policy_admin_pb2_grpc

pytestmark = pytest.mark.integration

DEPLOY = REPO / "deploy"
SECRETS_IN_CONTAINER = "/run/tierline"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """What the stack's dev-secrets job writes, made by the same script."""
    directory = tmp_path / "run-tierline"
    subprocess.run(
        [DEPLOY / "secrets" / "dev-secrets.sh", directory, "tierline", "localhost"],
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture
def environment(secrets: Path, redis_url: str) -> dict[str, str]:
    """The tierline service's environment in compose.yaml, its secrets where the script put them."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    given: dict[str, str] = compose["services"]["tierline"]["environment"]
    here = {
        name: value.replace(SECRETS_IN_CONTAINER, str(secrets)) for name, value in given.items()
    }
    return {**here, "TIERLINE_REDIS_URL": redis_url}


@pytest.fixture
def stack_server(
    environment: dict[str, str], secrets: Path, redis_url: str
) -> Iterator[TierlineProcess]:
    write_features(redis_url, {"c000042": {"tier": "gold", "tenure_days": 400}})
    server = TierlineProcess(
        redis_url,
        env=environment,
        auth_file=secrets / "callers.yaml",  # as the environment says (the test server needs it)
        credentials=tls_credentials(secrets / "ca.crt"),
    ).start()
    yield server
    server.stop()


def test_the_files_are_for_their_owner_only(secrets: Path) -> None:
    assert sorted(path.name for path in secrets.iterdir()) == [
        "ca.crt", "callers.yaml", "demo.token", "release.token", "tls.crt", "tls.key",
    ]  # fmt: skip
    assert all(path.stat().st_mode & 0o077 == 0 for path in secrets.iterdir())
    for token in ("demo", "release"):
        assert (secrets / f"{token}.token").read_text().strip() not in (
            secrets / "callers.yaml"
        ).read_text()


def test_decide_gets_through_over_tls_with_the_demo_token(
    stack_server: TierlineProcess, environment: dict[str, str], secrets: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "tierline_server.cli", "decide", "c000042",
            "--channel", "phone", "--intent", "cancel", "--explain", "--json",
            "--target", f"localhost:{stack_server.port}",
            "--tls-ca", str(secrets / "ca.crt"), "--token-file", str(secrets / "demo.token"),
        ],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert '"tier": "gold"' in result.stdout


def test_the_release_token_may_reload_the_policy(
    stack_server: TierlineProcess, secrets: Path
) -> None:
    token = (secrets / "release.token").read_text().strip()
    credentials = tls_credentials(secrets / "ca.crt")
    with grpc.secure_channel(f"localhost:{stack_server.port}", credentials) as channel:
        admin = policy_admin_pb2_grpc.PolicyAdminServiceStub(with_token(channel, token))
        result = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=30)

    assert not result.reloaded  # nothing changed, and the call was allowed
    assert result.version
