"""How a command reaches a running service: the target, TLS (and mutual TLS), a bearer token.

Each flag has its TIERLINE_* environment twin. A token is read from a file (never given on the
command line, where other users of the machine can list it) and is sent over TLS only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import grpc
from tierline import connection

from tierline_server.commands.options import add_option
from tierline_server.config import DEFAULT_LISTEN, Option, SettingError, boolean, listen_address
from tierline_server.config import readable_file as file

TARGET = Option("--target", "address of a running service, host:port", listen_address)
CONNECTION = (
    Option("--tls", "connect with TLS, trusting the system's CAs (see --tls-ca)", boolean),
    Option("--tls-ca", "PEM file of the CAs that sign the service's certificate (TLS)", file),
    Option("--client-cert", "PEM client certificate, for a service with mutual TLS (TLS)", file),
    Option("--client-key", "PEM private key of --client-cert", file),
    Option("--server-name", "the name in the service's certificate, when --target differs", str),
    Option("--token-file", "file holding a bearer token sent with each call (TLS only)", file),
)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """--target and the TLS and token flags."""
    add_option(parser, TARGET, DEFAULT_LISTEN)
    for option in CONNECTION:
        add_option(parser, option, False if option.parse is boolean else "")


def open_channel(args: argparse.Namespace) -> grpc.Channel:
    """A channel to ``args.target`` as the flags say; SettingError for flags that do not go
    together."""
    if bool(args.client_cert) != bool(args.client_key):
        raise SettingError("--client-cert and --client-key go together: give both")
    secure = args.tls or any((args.tls_ca, args.client_cert, args.server_name))
    token = Path(args.token_file).read_text().strip() if args.token_file else None
    if token == "":
        raise SettingError(f"--token-file {args.token_file} is empty")
    if not secure:
        if token:
            raise SettingError(
                "--token-file needs TLS (--tls, or --tls-ca): a token must not cross the "
                "network in clear text"
            )
        return grpc.insecure_channel(args.target)
    tls = connection.TlsConfig.from_files(
        args.tls_ca or None, args.client_cert or None, args.client_key or None,
        server_name=args.server_name or None,
    )  # fmt: skip
    return grpc.secure_channel(
        args.target,
        connection.channel_credentials(tls, token),
        options=[("grpc.ssl_target_name_override", args.server_name)] if args.server_name else (),
    )
