"""Who is calling, and what they may do: the one authentication step every transport runs.

A call's credentials (a bearer token, or the subject of a client certificate that mutual TLS
verified) name a caller of the callers file (``--auth-file``), and each caller has permissions:

    decide    Decide, DecideBatch, GetPolicy
    explain   explanations (the features and context the rules saw) with decisions
    admin     PolicyAdminService: ValidatePolicy, ReloadPolicy

A transport (gRPC, or Connect and gRPC-Web over HTTP, through the call guard) gathers a call's
Credentials before the request is parsed, and asks ``Authenticator.authenticate(method,
credentials)`` for the Identity, or gets Unauthenticated (no or unknown credentials) or
PermissionDenied (a known caller without the method's permission). Once the request is parsed,
``check_explain`` refuses an explanation to a caller without ``explain``. Every refusal is
counted by method and reason and logged with the peer's address and the caller's name, never
with the credential.

Tokens are kept as SHA-256 hashes only. A presented token is hashed and compared with every
known hash with hmac.compare_digest, so neither the file nor the time a refusal takes tells how
close a guess came. Tokens are long random strings (docs/security.md), which an unsalted hash
protects as well as a slow password hash would, at a microsecond per call instead of
milliseconds.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field

from tierline_server import logs
from tierline_server.config import ServerConfig, SettingError
from tierline_server.errors import PermissionDenied, Refused, Unauthenticated
from tierline_server.file_changes import CHECK_SECONDS, file_stat
from tierline_server.metrics import AUTH_REFUSALS, Metrics

log = structlog.get_logger(__name__)


class Permission(enum.Enum):
    """What a caller may do."""

    DECIDE = "decide"
    EXPLAIN = "explain"
    ADMIN = "admin"


METHOD_PERMISSIONS = {
    "Decide": Permission.DECIDE,
    "DecideBatch": Permission.DECIDE,
    "GetPolicy": Permission.DECIDE,
    "ValidatePolicy": Permission.ADMIN,
    "ReloadPolicy": Permission.ADMIN,
}
"""The permission each method needs; a method not listed is refused to everyone."""

CALLER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
"""A caller's name: it is logged and written to the decision log, so it is short and plain."""
TOKEN_HASH_PATTERN = r"^[0-9a-f]{64}$"
REFUSAL_LOG_SECONDS = 10.0
"""Refusals of one reason are logged at most once per this period, with how many there were: a
client retrying a bad token in a loop must not flood the log (the metric counts each one)."""


@dataclass(frozen=True)
class Credentials:
    """What a call presents, as the transport found it.

    ``certificate_subject`` is the subject of a client certificate that the transport verified
    against the configured client CAs (RFC 2253: ``CN=checkout,O=Shop``); a transport reports
    none unless it required and verified one.
    """

    authorization: str | None
    """The ``authorization`` header or metadata, as sent (``Bearer TOKEN``)."""
    certificate_subject: str | None
    peer: str
    """The caller's address, for the log."""


def presented_authorization(values: Sequence[str]) -> str | None:
    """The authorization a call presents, from its headers or metadata of that name: sent
    twice, the values are joined, which matches no token (refused, whichever came first)."""
    return ", ".join(values) if values else None


@dataclass(frozen=True)
class Identity:
    """A caller, known by name, and what it may do."""

    name: str
    """The caller's name in the callers file ('' when authentication is off)."""
    permissions: frozenset[Permission]

    def may(self, permission: Permission) -> bool:
        """Whether the caller has ``permission``."""
        return permission in self.permissions


UNAUTHENTICATED_CALLER = Identity("", frozenset({Permission.DECIDE, Permission.EXPLAIN}))
"""Every caller when authentication is off (--insecure-no-auth): never an admin."""


class _CallerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=CALLER_NAME_PATTERN)
    permissions: list[Literal["decide", "explain", "admin"]] = Field(min_length=1)
    token_sha256: list[str] = Field(default_factory=list)
    """Hex SHA-256 of each token that identifies the caller (two while a token is rotated)."""
    certificate_subject: str = ""

    @pydantic.field_validator("token_sha256", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        given = value if isinstance(value, list) else [value]
        if any(isinstance(each, int | float) for each in given):
            raise ValueError("YAML read a hash as a number: put each hash in quotes")
        return [value] if isinstance(value, str) else value

    @pydantic.field_validator("token_sha256")
    @classmethod
    def _hashes(cls, hashes: list[str]) -> list[str]:
        for value in hashes:
            if not re.fullmatch(TOKEN_HASH_PATTERN, value.lower()):
                raise ValueError(
                    "each must be the SHA-256 of a token as 64 hex digits (never the token "
                    "itself): printf %s TOKEN | sha256sum"
                )
        return [value.lower() for value in hashes]


class _CallersFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    callers: list[_CallerEntry]


class CallersFileError(SettingError):
    """The callers file cannot be read or is not valid; the message says where and why."""


@dataclass(frozen=True)
class Callers:
    """The callers of one version of the callers file, ready to look up."""

    identities: tuple[Identity, ...]
    tokens: tuple[tuple[bytes, Identity], ...]
    """(SHA-256 digest of a token, who it identifies)."""
    subjects: dict[str, Identity]

    def by_token(self, token: str) -> Identity | None:
        """The caller a token identifies: compared with every hash, each in constant time."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, identity in self.tokens:
            if hmac.compare_digest(digest, known):  # no early exit: every hash is compared
                found = identity
        return found


def parse_callers(text: str, source: str) -> Callers:
    """The callers of a callers file's text; CallersFileError naming each problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CallersFileError(f"{source}: not valid YAML: {error}") from None
    try:
        model = _CallersFileModel.model_validate(data)
    except pydantic.ValidationError as invalid:
        problems = [
            f"{_path(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
            for error in invalid.errors()
        ]
        raise CallersFileError(f"{source}: {'; '.join(problems)}") from None
    problems = []
    identities: dict[str, Identity] = {}
    tokens: dict[str, Identity] = {}
    subjects: dict[str, Identity] = {}
    for index, entry in enumerate(model.callers):
        where = f"callers[{index}] ({entry.name})"
        identity = Identity(entry.name, frozenset(Permission(p) for p in entry.permissions))
        if entry.name in identities:
            problems.append(f"{where}: a second caller of this name")
        identities[entry.name] = identity
        if not entry.token_sha256 and not entry.certificate_subject:
            problems.append(f"{where}: needs token_sha256 or certificate_subject")
        for token_hash in entry.token_sha256:
            if token_hash in tokens:
                problems.append(f"{where}: a token hash of {tokens[token_hash].name} too")
            tokens[token_hash] = identity
        subject = entry.certificate_subject
        if subject:
            if subject in subjects:
                problems.append(f"{where}: the certificate subject of {subjects[subject].name}")
            subjects[subject] = identity
    if problems:
        raise CallersFileError(f"{source}: {'; '.join(problems)}")
    return Callers(
        tuple(identities.values()),
        tuple((bytes.fromhex(token_hash), who) for token_hash, who in tokens.items()),
        subjects,
    )


def _path(location: Iterable[int | str]) -> str:
    """A pydantic error location as ``callers[2].name``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(the file)"


def read_callers(path: Path) -> Callers:
    """The callers of the file at ``path``; CallersFileError when it cannot be used."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CallersFileError(f"--auth-file {path}: cannot be read ({reason})") from None
    return parse_callers(text, f"--auth-file {path}")


class CallersFile:
    """The callers of a file, read again when the file changes (checked at most once per
    CHECK_SECONDS). A changed file that is not valid is reported and the callers read before
    stay: a typo must not lock every caller out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stat = file_stat(path)
        self._callers = read_callers(path)
        self._checked = time.monotonic()

    def current(self) -> Callers:
        """The callers, as of the last valid version of the file."""
        now = time.monotonic()
        if now - self._checked >= CHECK_SECONDS:
            self._checked = now
            stat = file_stat(self.path)
            if stat != self._stat:
                self._stat = stat
                self._reread()
        return self._callers

    def _reread(self) -> None:
        try:
            self._callers = read_callers(self.path)
        except CallersFileError as error:
            log.error("callers file rejected", reason=str(error), kept="the previous callers")
            return
        log.info("callers file reloaded", callers=len(self._callers.identities))


def callers_for(config: ServerConfig) -> CallersFile | None:
    """The callers file of the configuration (None when authentication is off); SettingError
    when it cannot be used, or when --enable-admin would serve PolicyAdmin to nobody."""
    if not config.auth.callers_file:
        return None
    callers = CallersFile(Path(config.auth.callers_file))
    admins = [who for who in callers.current().identities if who.may(Permission.ADMIN)]
    if config.enable_admin and not admins:
        raise SettingError(
            f"--enable-admin: no caller of --auth-file {callers.path} has the admin permission"
        )
    return callers


class Authenticator:
    """Identifies callers and checks their permissions; counts and logs every refusal."""

    def __init__(
        self,
        callers: CallersFile | None,
        metrics: Metrics,
        call_later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        """``callers``: None when authentication is off (every caller is
        UNAUTHENTICATED_CALLER). ``call_later`` ends the periods of the refusals' log lines
        (the running event loop's by default)."""
        self._callers = callers
        self._refusals = metrics.auth_refusals
        self._logs = {
            reason: logs.Summary(
                functools.partial(_log_refusals, reason), REFUSAL_LOG_SECONDS, call_later
            )
            for reason in AUTH_REFUSALS
        }

    def authenticate(self, method: str, credentials: Credentials) -> Identity:
        """Who is calling ``method``, once it is known that they may: else Unauthenticated or
        PermissionDenied (counted and logged)."""
        try:
            identity = self._identify(credentials)
        except Unauthenticated as refused:
            self._refused(method, credentials, refused, "")
            raise
        needed = METHOD_PERMISSIONS.get(method)
        if needed is None or not identity.may(needed):
            what = needed.value if needed else "a permission no caller has"
            denied = PermissionDenied(
                f"caller {identity.name or '(anonymous)'} may not call {method} (it needs {what})",
                "not_permitted",
            )
            self._refused(method, credentials, denied, identity.name)
            raise denied
        return identity

    def check_explain(self, method: str, identity: Identity, credentials: Credentials) -> None:
        """Refuse an explanation to a caller without the explain permission."""
        if not identity.may(Permission.EXPLAIN):
            refused = PermissionDenied(
                f"caller {identity.name} may not ask for explanations (it needs explain): "
                "call without explain",
                "explain_not_permitted",
            )
            self._refused(method, credentials, refused, identity.name)
            raise refused

    def _identify(self, credentials: Credentials) -> Identity:
        if self._callers is None:
            return UNAUTHENTICATED_CALLER
        callers = self._callers.current()
        if credentials.authorization is not None:
            scheme, _, token = credentials.authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated(
                    "the authorization (gRPC metadata or HTTP header) must be `Bearer TOKEN`",
                    "malformed_credentials",
                )
            identity = callers.by_token(token)
            if identity is None:
                raise Unauthenticated("the bearer token is not known", "unknown_token")
            return identity
        subject = credentials.certificate_subject
        if subject is not None:
            identity = callers.subjects.get(subject)
            if identity is None:
                raise Unauthenticated(
                    "the client certificate names no known caller", "unknown_certificate"
                )
            return identity
        raise Unauthenticated(
            "no credentials: send `authorization: Bearer TOKEN` (gRPC metadata or HTTP header)",
            "no_credentials",
        )

    def _refused(
        self, method: str, credentials: Credentials, refused: Refused, caller: str
    ) -> None:
        self._refusals.labels(method, refused.reason).inc()
        known = {"caller": caller} if caller else {}  # never the credential itself
        self._logs[refused.reason].add(method=method, peer=credentials.peer, **known)


def _log_refusals(reason: str, calls: int, latest: dict[str, Any]) -> None:
    log.warning("call refused", reason=reason, calls=calls, **latest)
