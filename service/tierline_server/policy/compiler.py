"""Compile a policy: raw YAML -> schema -> checked rules, with every error at once.

Nothing here touches the rule engine: the result (tierline_server.policy.compiled) is plain data
that the engine turns into a ruleset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from tierline_server.policy import conditions, validation
from tierline_server.policy.compiled import Policy, Rule, Segment
from tierline_server.policy.conditions import Condition, ConditionError
from tierline_server.policy.errors import Location, PolicyError, PolicyInvalid
from tierline_server.policy.fields import CONTEXT_FIELDS, TIER_FEATURE, FieldCatalog
from tierline_server.policy.schema import (
    NAME_PATTERN,
    TOP_LEVEL_KEYS,
    BaselineSpec,
    FeatureSpec,
    GuaranteesSpec,
    HeaderSpec,
    RuleSpec,
    SegmentSpec,
)
from tierline_server.policy.source import PolicySource, read_policy_source, read_policy_text

_M = TypeVar("_M", bound=BaseModel)


def load_policy(path: Path | str) -> Policy:
    """Read and compile the policy at ``path``; raises PolicyInvalid with every error."""
    try:
        source = read_policy_source(Path(path))
    except PolicyError as error:
        raise PolicyInvalid([error]) from None
    return compile_policy(source)


def compile_policy_text(text: str, name: str = "<candidate>") -> Policy:
    """Compile a policy given as text (one document)."""
    try:
        source = read_policy_text(text, name)
    except PolicyError as error:
        raise PolicyInvalid([error]) from None
    return compile_policy(source)


def compile_policy(source: PolicySource) -> Policy:
    """Check a merged policy document and compile it; raises PolicyInvalid with every error."""
    return _Compiler(source).compile()


class _Compiler:
    def __init__(self, source: PolicySource) -> None:
        self.source = source
        self.doc = source.document
        self.errors: list[PolicyError] = []

    def error(self, location: Location, element: str, reason: str) -> None:
        self.errors.append(PolicyError(location, element, reason))

    def compile(self) -> Policy:
        doc = self.doc
        for key in doc:
            if key not in TOP_LEVEL_KEYS:
                self.error(doc.location, "policy", f"unknown section {key!r}")
        header = self.validate(HeaderSpec, doc, "policy", doc.location)
        features = self.features()
        levels = self.service_levels()
        baseline = self.baseline(levels)
        guarantees = self.validate(
            GuaranteesSpec, doc.get("guarantees", {}), "guarantees", doc.location
        )
        channel_parity = guarantees.channel_parity if guarantees else True
        segments = self.segments(features)
        rules = self.rules(features, levels, channel_parity)
        if self.errors or header is None or baseline is None:
            raise PolicyInvalid(sorted(self.errors, key=_error_order))
        return Policy(
            name=header.policy,
            version=header.version,
            checksum=self.source.checksum,
            files=self.source.files,
            features=features,
            service_levels=tuple(levels),
            baseline=baseline,
            channel_parity=channel_parity,
            segments=tuple(segments),
            rules=tuple(rules),
        )

    def validate(self, model: type[_M], raw: Any, element: str, location: Location) -> _M | None:
        """Validate ``raw`` into ``model``; record each problem at its nearest line."""
        try:
            return validation.validate(model, raw, element, location)
        except PolicyInvalid as invalid:
            self.errors.extend(invalid.errors)
            return None

    def features(self) -> dict[str, FeatureSpec]:
        raw = self.doc.get("features", {})
        if not isinstance(raw, Mapping):
            self.error(self.doc.location, "features", "must be a mapping of name -> spec")
            return {}
        features = {}
        for name, spec_raw in raw.items():
            where = getattr(spec_raw, "location", self.doc.location)
            if not re.match(NAME_PATTERN, name):
                self.error(where, f"feature {name}", f"name must match {NAME_PATTERN}")
            elif name in CONTEXT_FIELDS or name == "attributes":
                self.error(where, f"feature {name}", "name is taken by a context field")
            spec = self.validate(FeatureSpec, spec_raw, f"feature {name}", where)
            if spec is not None:
                features[name] = spec
        tier = features.get(TIER_FEATURE)
        if tier is not None and tier.type != "enum":
            self.error(self.doc.location, f"feature {TIER_FEATURE}", "must be an enum")
        return features

    def service_levels(self) -> list[str]:
        levels = self.doc.get("service_levels")
        if (
            not isinstance(levels, list)
            or not levels
            or not all(isinstance(level, str) and level for level in levels)
        ):
            self.error(
                self.doc.location,
                "service_levels",
                "must be a non-empty list of names, lowest first",
            )
            return []
        if len(set(levels)) != len(levels):
            self.error(self.doc.location, "service_levels", "names must be unique")
        return levels

    def baseline(self, levels: list[str]) -> BaselineSpec | None:
        raw = self.doc.get("baseline")
        if not raw:
            self.error(
                self.doc.location, "baseline", "missing or empty: every policy needs a floor"
            )
            return None
        where = getattr(raw, "location", self.doc.location)
        baseline = self.validate(BaselineSpec, raw, "baseline", where)
        if baseline is not None:
            self.check_level(baseline.service_level, levels, where, "baseline")
            self.check_unique_perks([p.code for p in baseline.perks], where, "baseline")
        return baseline

    def segments(self, features: Mapping[str, FeatureSpec]) -> list[Segment]:
        raws = self.doc.get("segments", [])
        tier = features.get(TIER_FEATURE)
        if raws and (tier is None or not tier.values):
            self.error(self.doc.location, "segments", "segments need an enum feature `tier`")
            return []
        catalog = FieldCatalog(features, context=False)
        segments = []
        for index, raw in enumerate(raws, start=1):
            where = getattr(raw, "location", self.doc.location)
            element = f"segment {index}"
            spec = self.validate(SegmentSpec, raw, element, where)
            if spec is None:
                continue
            element = f"segment {index} ({spec.tier})"
            if tier is not None and spec.tier not in (tier.values or ()):
                self.error(where, element, f"tier {spec.tier!r} is not a value of feature `tier`")
            if spec.when is None:
                segments.append(Segment(spec.tier, None, where))
                continue
            condition = self.condition(spec.when, catalog, where, element)
            if condition is not None:
                segments.append(Segment(spec.tier, condition, where))
        return segments

    def rules(
        self, features: Mapping[str, FeatureSpec], levels: list[str], channel_parity: bool
    ) -> list[Rule]:
        raws = self.doc.get("rules", [])
        catalog = FieldCatalog(features)
        rules: list[Rule] = []
        first_seen: dict[str, Location] = {}
        for index, raw in enumerate(raws, start=1):
            where = getattr(raw, "location", self.doc.location)
            raw_id = raw.get("id") if isinstance(raw, Mapping) else None
            element = f"rule {raw_id}" if isinstance(raw_id, str) else f"rule #{index}"
            if isinstance(raw_id, str):
                if raw_id in first_seen:
                    self.error(where, element, f"duplicate id (first at {first_seen[raw_id]})")
                first_seen.setdefault(raw_id, where)
            spec = self.validate(RuleSpec, raw, element, where)
            if spec is None:
                continue
            if spec.grant.service_level is not None:
                self.check_level(spec.grant.service_level, levels, where, element)
            self.check_unique_perks([p.code for p in spec.grant.perks], where, element)
            condition = self.condition(spec.when, catalog, where, element)
            if condition is None:
                continue
            if (
                channel_parity
                and "channel" in conditions.fields_read(condition)
                and (spec.grant.is_entitlement or spec.revoke)
            ):
                self.error(
                    where,
                    element,
                    "reads `channel` but grants service level, SLA or perks; with "
                    "channel_parity on, channel may steer routing only",
                )
            rules.append(
                Rule(
                    spec.id,
                    spec.description,
                    conditions.normalise(condition),
                    spec.grant,
                    tuple(spec.revoke),
                    where,
                )
            )
        return rules

    def condition(
        self, raw: Any, catalog: FieldCatalog, where: Location, element: str
    ) -> Condition | None:
        try:
            return conditions.parse(raw, catalog)
        except ConditionError as error:
            self.error(validation.nearest_location(raw, (), where), element, str(error))
            return None

    def check_level(self, level: str, levels: list[str], where: Location, element: str) -> None:
        if levels and level not in levels:
            self.error(
                where,
                element,
                f"service level {level!r} is not declared (one of {', '.join(levels)})",
            )

    def check_unique_perks(self, codes: list[str], where: Location, element: str) -> None:
        if len(set(codes)) != len(codes):
            self.error(where, element, "grants the same perk code twice")


def _error_order(error: PolicyError) -> tuple[str, int]:
    return (error.location.file, error.location.line)
