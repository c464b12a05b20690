"""TLS files read again when they change: a new pair is used once it agrees, a half-rotated pair
never is, and files that cannot be used are refused at start naming the option."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.security import KeyPair, Pki
from tierline_server import tls
from tierline_server.config import TlsSettings
from tierline_server.tls import CertificateFiles, CertificateWatch, TlsFilesError


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def live(tmp_path: Path, pki: Pki) -> KeyPair:
    """The files the server is configured with (a copy of a first pair)."""
    first = pki.server("first")
    pair = KeyPair(tmp_path / "tls.crt", tmp_path / "tls.key")
    replace(pair, first)
    return pair


def replace(live: KeyPair, new: KeyPair, *, key: bool = True) -> None:
    """Write ``new`` over the live files (the certificate only, when not ``key``)."""
    shutil.copyfile(new.cert, live.cert)
    if key:
        shutil.copyfile(new.key, live.key)
    later = time.time_ns() + 1_000_000_000  # writes within one clock tick look alike
    for path in (live.cert, live.key):
        os.utime(path, ns=(later, later))


@pytest.fixture(autouse=True)
def look_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "CHECK_SECONDS", 0.0)


def test_a_rotated_pair_is_used_from_the_next_handshake(live: KeyPair, pki: Pki) -> None:
    watch = CertificateWatch(CertificateFiles(str(live.cert), str(live.key)))
    before = watch.current.certificate_chain
    assert watch.changed() is None  # nothing changed yet

    second = pki.server("second")
    replace(live, second)
    fresh = watch.changed()

    assert fresh is not None
    assert fresh.certificate_chain == second.cert.read_bytes() != before
    assert watch.current is fresh
    assert watch.changed() is None


def test_a_half_rotated_pair_is_not_used_until_the_key_arrives(live: KeyPair, pki: Pki) -> None:
    watch = CertificateWatch(CertificateFiles(str(live.cert), str(live.key)))
    old = watch.current
    second = pki.server("second")

    replace(live, second, key=False)
    with capture_logs() as events:
        assert watch.changed() is None
        assert watch.changed() is None
    assert watch.current is old
    assert [event["event"] for event in events] == ["tls files not usable yet"]  # said once

    replace(live, second)
    fresh = watch.changed()
    assert fresh is not None
    assert fresh.private_key == second.key.read_bytes()


def test_the_client_ca_makes_the_context_require_client_certificates(
    live: KeyPair, pki: Pki
) -> None:
    watch = CertificateWatch(CertificateFiles(str(live.cert), str(live.key), str(pki.ca_file)))

    assert watch.current.client_ca == pki.ca_pem
    assert watch.current.context.verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize(
    ("which", "complaint"),
    [
        ("key", r"--tls-cert .* and --tls-key .*: not usable \(KEY_VALUES_MISMATCH\)"),
        ("cert", r"--tls-cert .* and --tls-key .*: not usable"),
        ("missing", r"--tls-cert .* and --tls-key .*: cannot be read \(No such file"),
        ("client_ca", r"--tls-client-ca .*: not usable"),
    ],
)
def test_files_that_cannot_be_used_are_refused_naming_the_option(
    live: KeyPair, pki: Pki, tmp_path: Path, which: str, complaint: str
) -> None:
    settings = TlsSettings(cert=str(live.cert), key=str(live.key))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    if which == "key":
        settings = TlsSettings(cert=str(live.cert), key=str(pki.server("other").key))
    elif which == "cert":
        settings = TlsSettings(cert=str(garbage), key=str(live.key))
    elif which == "missing":
        settings = TlsSettings(cert=str(tmp_path / "nowhere.pem"), key=str(live.key))
    else:
        settings = TlsSettings(cert=str(live.cert), key=str(live.key), client_ca=str(garbage))

    with pytest.raises(TlsFilesError, match=complaint):
        tls.watch_for(settings)


def test_no_tls_settings_no_watch() -> None:
    assert tls.watch_for(TlsSettings()) is None
