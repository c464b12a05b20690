"""Features and context given as JSON or YAML (policy eval, policy tests, context mixes for
policy diff), checked and typed."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from tierline import money
from tierline.errors import InvalidRequest
from tierline.interaction import Channel

from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import Context


class ContextSpec(BaseModel):
    """An interaction context as written in a test case or on the command line.

    Names as the client and the command line take them: the channel in any case (``mobile-app``,
    ``CHANNEL_PHONE``), the order value in major units of its currency (``order_value: 59.90,
    currency: EUR``), the currency in any case.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    intent: str = ""
    order_value: Decimal | None = Field(default=None, ge=0)
    currency: str = ""
    item_count: int = Field(default=0, ge=0)
    attributes: dict[str, str] = {}

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str) -> str:
        try:
            return Channel.parse(channel).label
        except InvalidRequest as error:
            raise ValueError(error.field_violations[0].description) from None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        return money.currency_code(currency) if currency else ""

    @model_validator(mode="after")
    def _order_value_fits_its_currency(self) -> ContextSpec:
        if self.order_value is None:
            return self
        if not self.currency:
            raise ValueError("order_value: needs a currency (an ISO 4217 code, e.g. EUR)")
        try:
            money.minor_units(self.order_value, self.currency)
        except ValueError as error:
            raise ValueError(f"order_value: {error}") from None
        return self

    def to_context(self) -> Context:
        """The domain Context: the order value in minor units."""
        return Context(
            channel=self.channel,
            intent=self.intent,
            order_value=(
                None
                if self.order_value is None
                else money.minor_units(self.order_value, self.currency)
            ),
            currency=self.currency,
            item_count=self.item_count,
            attributes=self.attributes,
        )


def context_from_json(text: str) -> Context:
    """The Context of a JSON object (``policy eval --context``); ValueError in one line."""
    try:
        spec = ContextSpec.model_validate_json(text)
    except ValidationError as error:
        raise ValueError(validation_problems(error)) from None
    return spec.to_context()


def validation_problems(error: ValidationError) -> str:
    """A pydantic error as one line: ``field: problem; field: problem``."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        reason = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {reason}" if where else reason)
    return "; ".join(problems)


class NamedContextSpec(ContextSpec):
    """A context of a context mix, with an optional name."""

    name: str = ""


class ContextMix(BaseModel):
    """A file of contexts: ``contexts:`` followed by a list of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contexts: list[NamedContextSpec] = Field(min_length=1)


def load_contexts(path: Path) -> list[tuple[str, Context]]:
    """The (name, context) pairs of a YAML or JSON context file; ValueError naming the file and
    every problem. A context without a name is named after its fields."""
    try:
        mix = ContextMix.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"{path}: {error}") from None
    return [(spec.name or _describe(spec), spec.to_context()) for spec in mix.contexts]


def _describe(spec: ContextSpec) -> str:
    parts = [spec.channel, spec.intent]
    if spec.order_value is not None:
        parts.append(
            money.major_text(money.minor_units(spec.order_value, spec.currency), spec.currency)
        )
    if spec.item_count:
        parts.append(f"{spec.item_count} items")
    parts.extend(f"{key}={value}" for key, value in spec.attributes.items())
    return " ".join(part for part in parts if part)


def typed_features(policy: Policy, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check raw feature values against the policy's schema; ValueError names every problem."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"features must be a mapping of name -> value, not {raw!r}")
    typed, problems = {}, []
    for name, value in raw.items():
        spec = policy.features.get(name)
        if spec is None:
            problems.append(f"{name}: not a feature of policy {policy.name!r}")
            continue
        try:
            typed[name] = spec.parse(value)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    if problems:
        raise ValueError("; ".join(problems))
    return typed


def readable_features(policy: Policy, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values the policy declares and can read, typed by its schema. Others are left out,
    as the feature store leaves out a stored value that does not decode (the rules then see the
    default)."""
    typed: dict[str, Any] = {}
    for name, value in values.items():
        spec = policy.features.get(name)
        if spec is None:
            continue
        try:
            typed[name] = spec.parse(value)
        except ValueError:
            continue
    return typed
