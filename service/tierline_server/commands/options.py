"""Command-line flags derived from the settings declared in tierline_server.config.

Every flag's default comes from its TIERLINE_* environment twin when that is set, and is parsed
by the same parser as the flag, so a bad value reads the same wherever it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from tierline_server.config import Option, ServerConfig, boolean, option_of

S = TypeVar("S")


class UsageError(ValueError):
    """A command line that parsed but does not make sense (e.g. an amount with more decimals
    than its currency has); reported like argparse's own errors, in one line, exit 2."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"argument {option}: {problem}")


def add_option(parser: argparse.ArgumentParser, option: Option, default: Any) -> None:
    """Add one flag; its help names the environment twin and the default."""
    switch = {"nargs": "?", "const": True} if option.parse is boolean else {}  # bare --x = on
    raw = os.environ.get(option.env)
    parser.add_argument(
        option.flag,
        dest=option.dest,
        # argparse parses a string default with `type`, so an environment value is checked
        # exactly like the flag would be.
        default=default if raw is None else raw,
        type=_checked(option),
        help=f"{option.help} [{option.env}, default {default}]",
        **switch,  # type: ignore[arg-type]
    )


def argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a value parser of tierline_server.config: its ValueError becomes
    argparse's one-line error naming the value."""

    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r} {error}") from None

    checked.__name__ = parse.__name__
    return checked


def _checked(option: Option) -> Any:
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as error:
            origin = f" (set by {option.env})" if os.environ.get(option.env) == text else ""
            shown = "the value given" if option.secret else repr(text)  # never echo a secret
            raise argparse.ArgumentTypeError(f"{shown}{origin} {error}") from None

    parse.__name__ = option.flag
    return parse


def add_settings(
    parser: argparse.ArgumentParser, settings: type[Any], only: Collection[str] | None = None
) -> None:
    """Add a flag for every setting of a config dataclass (nested ones too), or those ``only``
    names."""
    for field in dataclasses.fields(settings):
        option = option_of(field)
        if option is None:
            add_settings(parser, field.default_factory, only)  # type: ignore[arg-type]
        elif only is None or field.name in only:
            add_option(parser, option, field.default)


def settings_from(settings: type[S], args: argparse.Namespace) -> S:
    """A config dataclass from parsed flags; settings without a flag keep their default."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        option = option_of(field)
        if option is None:
            values[field.name] = settings_from(field.default_factory, args)  # type: ignore[arg-type]
        elif hasattr(args, option.dest):
            values[field.name] = getattr(args, option.dest)
    return settings(**values)


def add_policy_option(parser: argparse.ArgumentParser) -> None:
    """--policy, as `serve` declares it."""
    add_settings(parser, ServerConfig, only=("policy_path",))
