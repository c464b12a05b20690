"""Validate located YAML (tierline_server.policy.source) into pydantic models, reporting each
problem at the line nearest to it: the policy's sections and the policy's test cases alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tierline_server.policy.errors import Location, PolicyError, PolicyInvalid
from tierline_server.policy.source import LocatedDict

_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], raw: Any, element: str, location: Location) -> _M:
    """``raw`` as a ``model``; raises PolicyInvalid with one error per problem, each at the line
    of the deepest mapping on its path (``location`` when there is none)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for item in exc.errors():
            where = ".".join(str(part) for part in item["loc"])
            reason = item["msg"].removeprefix("Value error, ")
            errors.append(
                PolicyError(
                    nearest_location(raw, item["loc"], location),
                    element,
                    f"{where}: {reason}" if where else reason,
                )
            )
        raise PolicyInvalid(errors) from None


def nearest_location(raw: Any, path: Sequence[Any], fallback: Location) -> Location:
    """The line of the deepest YAML mapping on ``path`` into ``raw``."""
    best = raw.location if isinstance(raw, LocatedDict) else fallback
    node = raw
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, LocatedDict):
            best = node.location
    return best
