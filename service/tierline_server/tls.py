"""TLS from files that change: the server's certificate and key, and the client CAs of mutual TLS.

cert-manager, Vault agents and Kubernetes Secret volumes replace these files in place (a Secret
volume swaps a symbolic link). Each new TLS handshake asks the CertificateWatch whether the files
changed (a stat of each, at most once per CHECK_SECONDS); when they did and they hold a
certificate with its matching key, handshakes use them from then on. Connections already open
carry on with the certificate they began with: nothing restarts and nothing is dropped. Files
caught half-way through a rotation (a new certificate beside the old key) are not used until they
agree; meanwhile the previous ones serve, and the problem is logged once.

The gRPC port gets its certificates through grpc's dynamic server credentials (whose fetcher is
asked on each new handshake); /metrics and the HTTP listener through their sockets' SNI callback
(called on each handshake, with or without a server name).
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog

from tierline_server.config import SettingError, TlsSettings
from tierline_server.file_changes import CHECK_SECONDS, FileStat, file_stat

log = structlog.get_logger(__name__)

READ_ATTEMPTS = 3
"""Reads of files that keep changing while they are read, before giving up for now."""

FileStats = tuple[FileStat, ...]


class TlsFilesError(SettingError):
    """The TLS files cannot be read or do not make a usable set; the message says which."""


@dataclass(frozen=True)
class CertificateFiles:
    """Where the server's TLS material is."""

    cert: str
    key: str
    client_ca: str = ""
    """'' for TLS without client certificates."""

    @classmethod
    def of(cls, settings: TlsSettings) -> CertificateFiles:
        """The files of the settings (which must enable TLS)."""
        return cls(settings.cert, settings.key, settings.client_ca)

    @property
    def paths(self) -> list[str]:
        """Every file, in order."""
        return [path for path in (self.cert, self.key, self.client_ca) if path]


@dataclass(frozen=True)
class Certificates:
    """One consistent reading of the files."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    context: ssl.SSLContext
    """A server context of these certificates (building it checks that they agree)."""


def _read(files: CertificateFiles) -> tuple[Certificates, FileStats]:
    for _ in range(READ_ATTEMPTS):
        before = _stats(files)
        certificates = _load(files)
        after = _stats(files)
        if after == before:  # what was checked is what was read
            return certificates, after
    raise TlsFilesError(f"--tls-cert {files.cert}: the files keep changing while they are read")


def _load(files: CertificateFiles) -> Certificates:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert, files.key)
    except OSError as error:  # ssl.SSLError is one
        raise TlsFilesError(
            f"--tls-cert {files.cert} and --tls-key {files.key}: {_reason(error)} (a PEM "
            "certificate chain and its unencrypted private key)"
        ) from None
    client_ca = None
    if files.client_ca:
        try:
            context.load_verify_locations(cafile=files.client_ca)
            client_ca = Path(files.client_ca).read_bytes()
        except OSError as error:  # ssl.SSLError is one
            raise TlsFilesError(
                f"--tls-client-ca {files.client_ca}: {_reason(error)} (PEM CA certificates)"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    try:
        chain, key = Path(files.cert).read_bytes(), Path(files.key).read_bytes()
    except OSError as error:
        raise TlsFilesError(f"--tls-cert {files.cert}: {_reason(error)}") from None
    return Certificates(chain, key, client_ca, context)


def _reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return f"not usable ({error.reason or error})"
    return f"cannot be read ({error.strerror})"


def _stats(files: CertificateFiles) -> FileStats:
    return tuple(file_stat(path) for path in files.paths)


class CertificateWatch:
    """The certificates of some files, read again when the files change. Thread-safe: grpc asks
    from its own threads."""

    def __init__(self, files: CertificateFiles) -> None:
        """Reads the files now: TlsFilesError when they cannot be used."""
        self.files = files
        self.current, self._stats = _read(files)
        self._reported: FileStats | None = None
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def changed(self) -> Certificates | None:
        """New certificates when the files changed since they were last read and hold a usable
        set; otherwise None (the current ones stay)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked < CHECK_SECONDS:
                return None
            self._checked = now
            stats = _stats(self.files)
            if stats == self._stats:
                return None
            try:
                fresh, self._stats = _read(self.files)
            except TlsFilesError as problem:
                if stats != self._reported:  # once per state of the files
                    self._reported = stats
                    log.warning("tls files not usable yet", reason=str(problem))
                return None
            self.current = fresh
        log.info("tls files reloaded", cert=self.files.cert)
        return fresh


def watch_for(settings: TlsSettings) -> CertificateWatch | None:
    """The watch of the settings' files (None without TLS); TlsFilesError when they cannot be
    used."""
    return CertificateWatch(CertificateFiles.of(settings)) if settings.enabled else None


def server_credentials(watch: CertificateWatch) -> grpc.ServerCredentials:
    """gRPC server credentials that follow the watched files (mutual TLS with a client CA: a
    client without a certificate signed by one of them is refused in the handshake)."""

    def fetch() -> Any:
        fresh = watch.changed()
        return None if fresh is None else _configuration(fresh)

    return grpc.dynamic_ssl_server_credentials(
        _configuration(watch.current),
        fetch,
        require_client_authentication=watch.current.client_ca is not None,
    )


def _configuration(certificates: Certificates) -> Any:
    return grpc.ssl_server_certificate_configuration(
        [(certificates.private_key, certificates.certificate_chain)],
        root_certificates=certificates.client_ca,
    )


def follow(context: ssl.SSLContext, watch: CertificateWatch, alpn: list[str] | None = None) -> None:
    """Make handshakes on ``context`` (a listening socket's) use the watched files as they
    change (offering ``alpn`` protocols, as ``context`` does)."""
    latest = context

    def on_hello(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        nonlocal latest
        fresh = watch.changed()
        if fresh is not None:
            latest = fresh.context
            if alpn:
                latest.set_alpn_protocols(alpn)
        if latest is not context:
            connection.context = latest

    context.sni_callback = on_hello


def following_context(watch: CertificateWatch, alpn: list[str]) -> ssl.SSLContext:
    """A server context of the watched files that follows them as they change, offering the
    ``alpn`` protocols (the HTTP listener's: h2 and http/1.1). ``watch`` must be this context's
    alone: a change is reported to the first handshake that asks."""
    context = watch.current.context
    context.set_alpn_protocols(alpn)
    follow(context, watch, alpn)
    return context
