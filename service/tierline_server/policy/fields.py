"""The fields a rule can read: the customer's declared features, the interaction's context
fields, and ``attributes.<key>``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from tierline_server.policy.conditions import FieldType
from tierline_server.policy.domain import ATTRIBUTE_KEY_PATTERN, CHANNELS
from tierline_server.policy.schema import FeatureSpec

CONTEXT_FIELDS: Mapping[str, FieldType] = {
    "channel": FieldType("enum", CHANNELS),
    "intent": FieldType("string"),
    "order_value": FieldType("money", currency_field="currency"),
    "item_count": FieldType("int"),
    "currency": FieldType("string"),
}
"""Fields of the interaction that any rule may read, besides features and attributes."""

ATTRIBUTE_PREFIX = "attributes."
TIER_FEATURE = "tier"
"""The feature that names a customer's tier (and that segments assign)."""


def is_context_field(name: str) -> bool:
    """Whether a field comes from the interaction (context or attributes), not the customer."""
    return name in CONTEXT_FIELDS or name.startswith(ATTRIBUTE_PREFIX)


class FieldCatalog(Mapping[str, FieldType]):
    """The fields a condition may read: declared features, context fields, attributes.<key>."""

    def __init__(self, features: Mapping[str, FeatureSpec], *, context: bool = True) -> None:
        self._fields = {
            name: FieldType(spec.type, tuple(spec.values) if spec.values else None)
            for name, spec in features.items()
        }
        if context:
            self._fields.update(CONTEXT_FIELDS)
        self._attributes = context

    def __getitem__(self, name: str) -> FieldType:
        if name in self._fields:
            return self._fields[name]
        key = name.removeprefix(ATTRIBUTE_PREFIX)
        if self._attributes and key != name and ATTRIBUTE_KEY_PATTERN.fullmatch(key):
            return FieldType("string")
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)
