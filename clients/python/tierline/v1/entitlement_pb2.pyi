import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_PHONE: _ClassVar[Channel]
    CHANNEL_CHAT: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SOCIAL: _ClassVar[Channel]
    CHANNEL_WEB: _ClassVar[Channel]
    CHANNEL_MOBILE_APP: _ClassVar[Channel]
    CHANNEL_IN_STORE: _ClassVar[Channel]

class FeatureSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_SOURCE_UNSPECIFIED: _ClassVar[FeatureSource]
    FEATURE_SOURCE_NEAR_CACHE: _ClassVar[FeatureSource]
    FEATURE_SOURCE_REDIS: _ClassVar[FeatureSource]
    FEATURE_SOURCE_MISSING: _ClassVar[FeatureSource]
    FEATURE_SOURCE_UNAVAILABLE: _ClassVar[FeatureSource]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_PHONE: Channel
CHANNEL_CHAT: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SOCIAL: Channel
CHANNEL_WEB: Channel
CHANNEL_MOBILE_APP: Channel
CHANNEL_IN_STORE: Channel
FEATURE_SOURCE_UNSPECIFIED: FeatureSource
FEATURE_SOURCE_NEAR_CACHE: FeatureSource
FEATURE_SOURCE_REDIS: FeatureSource
FEATURE_SOURCE_MISSING: FeatureSource
FEATURE_SOURCE_UNAVAILABLE: FeatureSource

class InteractionContext(_message.Message):
    __slots__ = ("channel", "intent", "order_value_minor", "currency", "item_count", "attributes", "occurred_at")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    ORDER_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    intent: str
    order_value_minor: int
    currency: str
    item_count: int
    attributes: _containers.ScalarMap[str, str]
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., intent: _Optional[str] = ..., order_value_minor: _Optional[int] = ..., currency: _Optional[str] = ..., item_count: _Optional[int] = ..., attributes: _Optional[_Mapping[str, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("customer_id", "context", "explain")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    context: InteractionContext
    explain: bool
    def __init__(self, customer_id: _Optional[str] = ..., context: _Optional[_Union[InteractionContext, _Mapping]] = ..., explain: _Optional[bool] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class DecideBatchRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[DecideRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[DecideRequest, _Mapping]]] = ...) -> None: ...

class DecideBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DecideBatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[DecideBatchResult, _Mapping]]] = ...) -> None: ...

class DecideBatchResult(_message.Message):
    __slots__ = ("status", "decision")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    status: ItemStatus
    decision: Decision
    def __init__(self, status: _Optional[_Union[ItemStatus, _Mapping]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class ItemStatus(_message.Message):
    __slots__ = ("code", "message", "field_violations")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    field_violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., field_violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ...) -> None: ...

class FieldViolation(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "customer_id", "tier", "policy_version", "service_level", "perks", "routing", "matched_rules", "baseline_applied", "degraded", "degraded_reason", "metrics", "explanation", "occurred_at")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PERKS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    MATCHED_RULES_FIELD_NUMBER: _ClassVar[int]
    BASELINE_APPLIED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    customer_id: str
    tier: str
    policy_version: str
    service_level: ServiceLevel
    perks: _containers.RepeatedCompositeFieldContainer[Perk]
    routing: Routing
    matched_rules: _containers.RepeatedScalarFieldContainer[str]
    baseline_applied: bool
    degraded: bool
    degraded_reason: str
    metrics: DecisionMetrics
    explanation: Explanation
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, decision_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., tier: _Optional[str] = ..., policy_version: _Optional[str] = ..., service_level: _Optional[_Union[ServiceLevel, _Mapping]] = ..., perks: _Optional[_Iterable[_Union[Perk, _Mapping]]] = ..., routing: _Optional[_Union[Routing, _Mapping]] = ..., matched_rules: _Optional[_Iterable[str]] = ..., baseline_applied: _Optional[bool] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ..., metrics: _Optional[_Union[DecisionMetrics, _Mapping]] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ServiceLevel(_message.Message):
    __slots__ = ("name", "rank", "sla")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SLA_FIELD_NUMBER: _ClassVar[int]
    name: str
    rank: int
    sla: Sla
    def __init__(self, name: _Optional[str] = ..., rank: _Optional[int] = ..., sla: _Optional[_Union[Sla, _Mapping]] = ...) -> None: ...

class Sla(_message.Message):
    __slots__ = ("max_wait_seconds", "callback_offered", "human_agent_guaranteed", "first_response_seconds")
    MAX_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_OFFERED_FIELD_NUMBER: _ClassVar[int]
    HUMAN_AGENT_GUARANTEED_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max_wait_seconds: int
    callback_offered: bool
    human_agent_guaranteed: bool
    first_response_seconds: int
    def __init__(self, max_wait_seconds: _Optional[int] = ..., callback_offered: _Optional[bool] = ..., human_agent_guaranteed: _Optional[bool] = ..., first_response_seconds: _Optional[int] = ...) -> None: ...

class Perk(_message.Message):
    __slots__ = ("code", "description", "amount_minor", "percent", "granted_by")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    code: str
    description: str
    amount_minor: int
    percent: float
    granted_by: str
    def __init__(self, code: _Optional[str] = ..., description: _Optional[str] = ..., amount_minor: _Optional[int] = ..., percent: _Optional[float] = ..., granted_by: _Optional[str] = ...) -> None: ...

class Routing(_message.Message):
    __slots__ = ("queue", "priority", "skills")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    queue: str
    priority: int
    skills: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queue: _Optional[str] = ..., priority: _Optional[int] = ..., skills: _Optional[_Iterable[str]] = ...) -> None: ...

class DecisionMetrics(_message.Message):
    __slots__ = ("total_micros", "lookup_micros", "eval_micros", "feature_source", "features_age_seconds")
    TOTAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    LOOKUP_MICROS_FIELD_NUMBER: _ClassVar[int]
    EVAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    total_micros: int
    lookup_micros: int
    eval_micros: int
    feature_source: FeatureSource
    features_age_seconds: float
    def __init__(self, total_micros: _Optional[int] = ..., lookup_micros: _Optional[int] = ..., eval_micros: _Optional[int] = ..., feature_source: _Optional[_Union[FeatureSource, str]] = ..., features_age_seconds: _Optional[float] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("features", "context", "rules")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.ScalarMap[str, str]
    context: _containers.ScalarMap[str, str]
    rules: _containers.RepeatedCompositeFieldContainer[RuleExplanation]
    def __init__(self, features: _Optional[_Mapping[str, str]] = ..., context: _Optional[_Mapping[str, str]] = ..., rules: _Optional[_Iterable[_Union[RuleExplanation, _Mapping]]] = ...) -> None: ...

class RuleExplanation(_message.Message):
    __slots__ = ("rule_id", "condition")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    condition: str
    def __init__(self, rule_id: _Optional[str] = ..., condition: _Optional[str] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: PolicyInfo
    def __init__(self, policy: _Optional[_Union[PolicyInfo, _Mapping]] = ...) -> None: ...

class PolicyInfo(_message.Message):
    __slots__ = ("name", "version", "checksum", "tiers", "service_levels", "baseline", "channel_parity")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVELS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_PARITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    checksum: str
    tiers: _containers.RepeatedScalarFieldContainer[str]
    service_levels: _containers.RepeatedCompositeFieldContainer[ServiceLevelRank]
    baseline: Baseline
    channel_parity: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., checksum: _Optional[str] = ..., tiers: _Optional[_Iterable[str]] = ..., service_levels: _Optional[_Iterable[_Union[ServiceLevelRank, _Mapping]]] = ..., baseline: _Optional[_Union[Baseline, _Mapping]] = ..., channel_parity: _Optional[bool] = ...) -> None: ...

class ServiceLevelRank(_message.Message):
    __slots__ = ("name", "rank")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    name: str
    rank: int
    def __init__(self, name: _Optional[str] = ..., rank: _Optional[int] = ...) -> None: ...

class Baseline(_message.Message):
    __slots__ = ("service_level", "routing", "perks")
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    PERKS_FIELD_NUMBER: _ClassVar[int]
    service_level: ServiceLevel
    routing: Routing
    perks: _containers.RepeatedCompositeFieldContainer[Perk]
    def __init__(self, service_level: _Optional[_Union[ServiceLevel, _Mapping]] = ..., routing: _Optional[_Union[Routing, _Mapping]] = ..., perks: _Optional[_Iterable[_Union[Perk, _Mapping]]] = ...) -> None: ...
