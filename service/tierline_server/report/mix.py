"""The context mix: the interactions every customer is decided in, and the cohorts compared.

One small YAML file (``default_mix.yaml`` beside this module, or ``--mix FILE``): channels
crossed with interactions in one currency, cohorts as conditions over the policy's features, the
feature whose value the concentration curve adds up, and the lowest service level that counts as
premium. Every interaction is decided on every channel, so channel parity can be checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import tierline.money
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tierline_server.policy import conditions
from tierline_server.policy.compiled import Policy
from tierline_server.policy.conditions import Condition, ConditionError
from tierline_server.policy.domain import CHANNELS, Context
from tierline_server.policy.fields import FieldCatalog
from tierline_server.policy.inputs import ContextSpec

DEFAULT_MIX = Path(__file__).with_name("default_mix.yaml")
EVERYONE = "all customers"
"""The whole population, which each cohort is compared with."""


class MixError(Exception):
    """A mix file that cannot be used: every problem, one per line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InteractionSpec(_Model):
    """One interaction of the mix, decided on every channel of the mix."""

    intent: str = ""
    order_value: Decimal | None = Field(default=None, ge=0)
    """In major units of the mix's currency, as prices are written (25.00); None: no order."""
    item_count: int = Field(default=0, ge=0)
    attributes: dict[str, str] = {}


class MixSpec(_Model):
    """The mix file as written."""

    currency: str
    channels: list[str] = Field(min_length=1)
    interactions: list[InteractionSpec] = Field(min_length=1)
    cohorts: dict[str, dict[str, Any]] = {}
    value_feature: str
    premium_from: str

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        return tierline.money.currency_code(currency)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, channels: list[str]) -> list[str]:
        unknown = [channel for channel in channels if channel not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)} (one of {', '.join(CHANNELS)})")
        if len(set(channels)) != len(channels):
            raise ValueError("a channel is listed twice")
        return channels

    @field_validator("cohorts")
    @classmethod
    def _cohort_names(cls, cohorts: dict[str, Any]) -> dict[str, Any]:
        if EVERYONE in cohorts:
            raise ValueError(f"{EVERYONE!r} names the whole population: choose another name")
        return cohorts


@dataclass(frozen=True)
class Mix:
    """A checked mix."""

    source: str
    currency: str
    channels: tuple[str, ...]
    contexts: tuple[Context, ...]
    """Every interaction on every channel, interaction by interaction."""
    cohorts: Mapping[str, Mapping[str, Any]]
    """Cohort name -> condition as written (``cohort_conditions`` checks it against a policy)."""
    value_feature: str
    premium_from: str


def load_mix(path: Path = DEFAULT_MIX) -> Mix:
    """Read and check a mix file; raises MixError naming the file and every problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = MixSpec.model_validate(raw)
        contexts = [
            ContextSpec(
                channel=channel,
                currency=spec.currency if interaction.order_value is not None else "",
                **interaction.model_dump(),
            ).to_context()
            for interaction in spec.interactions
            for channel in spec.channels
        ]
    except OSError as error:
        raise MixError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise MixError(f"{path}: not valid YAML: {error}") from None
    except ValidationError as error:
        raise MixError("\n".join(_problems(path, error))) from None
    return Mix(
        source="the built-in mix" if path == DEFAULT_MIX else str(path),
        currency=spec.currency,
        channels=tuple(spec.channels),
        contexts=tuple(contexts),
        cohorts=spec.cohorts,
        value_feature=spec.value_feature,
        premium_from=spec.premium_from,
    )


def _problems(path: Path, error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top)"
        lines.append(f"{path}: {where}: {item['msg'].removeprefix('Value error, ')}")
    return lines


def cohort_conditions(mix: Mix, policy: Policy) -> dict[str, Condition]:
    """The mix's cohorts as conditions over ``policy``'s features; raises MixError when the mix
    names a feature or service level that ``policy`` does not have."""
    problems = []
    value = policy.features.get(mix.value_feature)
    if value is None or value.type not in ("int", "number"):
        numbers = [name for name, spec in policy.features.items() if spec.type in ("int", "number")]
        problems.append(
            f"value_feature: {mix.value_feature!r} is not a number feature of policy "
            f"{policy.name!r} (one of {', '.join(numbers) or 'none'})"
        )
    if mix.premium_from not in policy.service_levels:
        problems.append(
            f"premium_from: {mix.premium_from!r} is not a service level of policy "
            f"{policy.name!r} (one of {', '.join(policy.service_levels)})"
        )
    catalog = FieldCatalog(policy.features, context=False)
    cohorts = {}
    for name, raw in mix.cohorts.items():
        try:
            cohorts[name] = conditions.parse(raw, catalog, path=f"cohorts.{name}")
        except ConditionError as error:
            problems.append(str(error))
    if problems:
        raise MixError("\n".join(f"{mix.source}: {problem}" for problem in problems))
    return cohorts


def money(minor: float, currency: str) -> str:
    """An amount (or an average) in minor units, for people: ``2500`` -> ``25.00 EUR``, by the
    currency's exponent (``2500`` JPY -> ``2,500 JPY``)."""
    places = tierline.money.exponent(currency)
    return f"{minor / 10**places:,.{places}f} {currency}"


def interaction_text(context: Context) -> str:
    """What a context asks, without its channel: ``purchase, 90.00 EUR, 3 items``."""
    parts = [context.intent or "(no intent)"]
    if context.order_value is not None:
        parts.append(money(context.order_value, context.currency))
    if context.item_count:
        parts.append(f"{context.item_count} item{'s' if context.item_count != 1 else ''}")
    parts.extend(f"{key}={value}" for key, value in sorted(context.attributes.items()))
    return ", ".join(parts)
