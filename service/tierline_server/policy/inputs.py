"""Features and context given as JSON or YAML (policy eval, policy tests), checked and typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import CHANNELS, Context


class ContextSpec(BaseModel):
    """An interaction context as written in a test case or on the command line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    intent: str = ""
    order_value: int | None = Field(default=None, ge=0)
    currency: str = Field(default="", pattern=r"^([A-Z]{3})?$")
    item_count: int = Field(default=0, ge=0)
    attributes: dict[str, str] = {}

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str) -> str:
        channel = channel.lower()
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        return channel

    def to_context(self) -> Context:
        """The domain Context."""
        return Context(**self.model_dump())


def typed_features(policy: Policy, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check raw feature values against the policy's schema; ValueError names every problem."""
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
