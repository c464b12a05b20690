"""The policy file's schema: what each section of the YAML may contain.

Pydantic checks shapes and value ranges here; cross-references (features a condition reads,
declared service levels, duplicate ids, channel parity) are checked by the compiler.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

FeatureType = Literal["enum", "int", "number", "bool", "string"]

MAX_INT = 2**63 - 1
"""Largest int magnitude: the engine compares 64-bit integers."""
MAX_NUMBER = 1e15
NUMBER_DECIMALS = 4
"""Numbers are kept to 4 decimals below 10^15: the range the engine's number parser reads."""


def fits_engine(value: int | float) -> bool:
    """Whether a number is within what the rule engine compares exactly."""
    if isinstance(value, int):
        return abs(value) <= MAX_INT
    return (
        math.isfinite(value) and abs(value) < MAX_NUMBER and round(value, NUMBER_DECIMALS) == value
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FeatureSpec(_Model):
    """A customer feature read from Redis: its type and the value used when it is missing."""

    type: FeatureType
    values: list[str] | None = None
    default: str | bool | int | float
    description: str = ""

    @model_validator(mode="after")
    def _default_fits_type(self) -> FeatureSpec:
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("`values` is required for an enum feature and only allowed there")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("enum values must be unique")
        expected: dict[str, tuple[type, ...]] = {
            "enum": (str,),
            "string": (str,),
            "bool": (bool,),
            "int": (int,),
            "number": (int, float),
        }
        if (isinstance(self.default, bool) and self.type != "bool") or not isinstance(
            self.default, expected[self.type]
        ):
            raise ValueError(f"default {self.default!r} is not a {self.type}")
        if self.values is not None and self.default not in self.values:
            raise ValueError(f"default {self.default!r} is not one of {list(self.values)}")
        return self

    def parse(self, raw: Any) -> Any:
        """A typed value from a stored string or a JSON value; ValueError saying what is allowed
        when it does not fit."""
        try:
            return self._typed(raw)
        except ValueError:  # also what int("1.5") and float("lots") raise
            allowed = f"one of {', '.join(self.values)}" if self.values else f"a valid {self.type}"
            raise ValueError(f"{raw!r} is not {allowed}") from None

    def _typed(self, raw: Any) -> Any:
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
        elif self.type == "int":
            number = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
            if isinstance(raw, str):
                number = int(raw.strip())
            if number is not None and fits_engine(number):
                return number
        elif self.type == "number":
            if isinstance(raw, int | float | str) and not isinstance(raw, bool):
                value = round(float(raw), NUMBER_DECIMALS)
                if fits_engine(value):
                    return value
        elif isinstance(raw, str) and (self.values is None or raw in self.values):
            return raw
        raise ValueError(raw)

    def encode(self, value: Any) -> str:
        """The string stored in Redis for a typed value."""
        if self.type == "bool":
            return "true" if value else "false"
        return str(value)


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class SlaSpec(_Model):
    """A complete SLA (the baseline must state every field)."""

    max_wait_seconds: int = Field(ge=0)
    first_response_seconds: int = Field(ge=0)
    callback_offered: bool
    human_agent_guaranteed: bool


class SlaGrantSpec(_Model):
    """Part of an SLA that a rule improves; fields left out keep the baseline's."""

    max_wait_seconds: int | None = Field(default=None, ge=0)
    first_response_seconds: int | None = Field(default=None, ge=0)
    callback_offered: bool | None = None
    human_agent_guaranteed: bool | None = None


class RoutingSpec(_Model):
    """Where an interaction goes."""

    queue: str = Field(min_length=1, max_length=64)
    priority: int = Field(ge=0, le=100)
    skills: list[str] = []


class PerkSpec(_Model):
    """A perk: a code and at most one value (an amount in minor units, or a percent)."""

    code: str = Field(pattern=ID_PATTERN)
    description: str = ""
    amount: int | None = Field(default=None, ge=0)
    percent: float | None = Field(default=None, gt=0, le=1000)

    @model_validator(mode="after")
    def _one_value(self) -> PerkSpec:
        if self.amount is not None and self.percent is not None:
            raise ValueError("a perk has an amount or a percent, not both")
        return self


class GrantSpec(_Model):
    """What a rule grants when its condition holds."""

    service_level: str | None = None
    sla: SlaGrantSpec | None = None
    routing: RoutingSpec | None = None
    perks: list[PerkSpec] = []

    @property
    def is_entitlement(self) -> bool:
        """Whether this grant changes level, SLA or perks (what channel parity protects)."""
        return self.service_level is not None or self.sla is not None or bool(self.perks)


class BaselineSpec(_Model):
    """The universal floor: every customer, every channel, always."""

    service_level: str
    sla: SlaSpec
    routing: RoutingSpec
    perks: list[PerkSpec] = []


class GuaranteesSpec(_Model):
    """Properties the compiler enforces on every rule."""

    channel_parity: bool = True


class RuleSpec(_Model):
    """An entitlement rule as written; ``when`` is parsed by the compiler."""

    id: str = Field(pattern=ID_PATTERN)
    description: str = ""
    when: Any
    grant: GrantSpec = GrantSpec()
    revoke: list[str] = []

    @model_validator(mode="after")
    def _does_something(self) -> RuleSpec:
        if self.grant == GrantSpec() and not self.revoke:
            raise ValueError("a rule must grant or revoke something")
        return self


class SegmentSpec(_Model):
    """A segmentation rule: customers matching ``when`` are in ``tier`` (first match wins).

    A segment without ``when`` matches everyone: the catch-all at the end of the list.
    """

    tier: str
    when: Any = None


class HeaderSpec(_Model):
    """The policy's name and version."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    policy: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""


TOP_LEVEL_KEYS = frozenset(
    {
        "policy",
        "version",
        "description",
        "features",
        "service_levels",
        "baseline",
        "guarantees",
        "segments",
        "rules",
    }
)
