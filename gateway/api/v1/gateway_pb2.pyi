import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]
    PRIORITY_NORMAL: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_URGENT: _ClassVar[Priority]

class ReceiptState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECEIPT_STATE_UNSPECIFIED: _ClassVar[ReceiptState]
    RECEIPT_STATE_UNKNOWN: _ClassVar[ReceiptState]
    RECEIPT_STATE_PENDING: _ClassVar[ReceiptState]
    RECEIPT_STATE_DELIVERED: _ClassVar[ReceiptState]
    RECEIPT_STATE_READ: _ClassVar[ReceiptState]
    RECEIPT_STATE_UNDELIVERED: _ClassVar[ReceiptState]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_LOW: Priority
PRIORITY_NORMAL: Priority
PRIORITY_HIGH: Priority
PRIORITY_URGENT: Priority
RECEIPT_STATE_UNSPECIFIED: ReceiptState
RECEIPT_STATE_UNKNOWN: ReceiptState
RECEIPT_STATE_PENDING: ReceiptState
RECEIPT_STATE_DELIVERED: ReceiptState
RECEIPT_STATE_READ: ReceiptState
RECEIPT_STATE_UNDELIVERED: ReceiptState

class Target(_message.Message):
    __slots__ = ("users", "topic", "everyone")
    USERS_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    EVERYONE_FIELD_NUMBER: _ClassVar[int]
    users: UserIds
    topic: str
    everyone: Everyone
    def __init__(self, users: _Optional[_Union[UserIds, _Mapping]] = ..., topic: _Optional[str] = ..., everyone: _Optional[_Union[Everyone, _Mapping]] = ...) -> None: ...

class UserIds(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Everyone(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Notification(_message.Message):
    __slots__ = ("id", "type", "title", "body", "data", "priority", "created_at", "ttl", "data_json", "receipt_deadline")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    title: str
    body: str
    data: _struct_pb2.Struct
    priority: Priority
    created_at: _timestamp_pb2.Timestamp
    ttl: _duration_pb2.Duration
    data_json: str
    receipt_deadline: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., priority: _Optional[_Union[Priority, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., data_json: _Optional[str] = ..., receipt_deadline: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PublishRequest(_message.Message):
    __slots__ = ("target", "notification")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    target: Target
    notification: Notification
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., notification: _Optional[_Union[Notification, _Mapping]] = ...) -> None: ...

class PublishResponse(_message.Message):
    __slots__ = ("id", "cursor", "delivered")
    ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    id: str
    cursor: str
    delivered: int
    def __init__(self, id: _Optional[str] = ..., cursor: _Optional[str] = ..., delivered: _Optional[int] = ...) -> None: ...

class PublishBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[PublishRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[PublishRequest, _Mapping]]] = ...) -> None: ...

class PublishResult(_message.Message):
    __slots__ = ("id", "cursor", "delivered", "code", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    cursor: str
    delivered: int
    code: int
    message: str
    def __init__(self, id: _Optional[str] = ..., cursor: _Optional[str] = ..., delivered: _Optional[int] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class PublishBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PublishResult]
    def __init__(self, results: _Optional[_Iterable[_Union[PublishResult, _Mapping]]] = ...) -> None: ...

class GetPresenceRequest(_message.Message):
    __slots__ = ("user_ids", "topic")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    topic: str
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., topic: _Optional[str] = ...) -> None: ...

class UserPresence(_message.Message):
    __slots__ = ("user_id", "connections")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    connections: int
    def __init__(self, user_id: _Optional[str] = ..., connections: _Optional[int] = ...) -> None: ...

class GetPresenceResponse(_message.Message):
    __slots__ = ("users", "total_connections")
    USERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[UserPresence]
    total_connections: int
    def __init__(self, users: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., total_connections: _Optional[int] = ...) -> None: ...

class DisconnectRequest(_message.Message):
    __slots__ = ("user_id", "code", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    code: int
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., code: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DisconnectResponse(_message.Message):
    __slots__ = ("closed",)
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    closed: int
    def __init__(self, closed: _Optional[int] = ...) -> None: ...

class GetReceiptsRequest(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UserReceipt(_message.Message):
    __slots__ = ("user_id", "state", "delivered_at", "read_at", "undelivered_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    UNDELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    state: ReceiptState
    delivered_at: _timestamp_pb2.Timestamp
    read_at: _timestamp_pb2.Timestamp
    undelivered_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., state: _Optional[_Union[ReceiptState, str]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., undelivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AudienceReceipt(_message.Message):
    __slots__ = ("delivered", "read", "capped")
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    delivered: int
    read: int
    capped: bool
    def __init__(self, delivered: _Optional[int] = ..., read: _Optional[int] = ..., capped: _Optional[bool] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("id", "state", "type", "cursor", "published_at", "deadline", "users", "audience")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: ReceiptState
    type: str
    cursor: str
    published_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    users: _containers.RepeatedCompositeFieldContainer[UserReceipt]
    audience: AudienceReceipt
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[ReceiptState, str]] = ..., type: _Optional[str] = ..., cursor: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., users: _Optional[_Iterable[_Union[UserReceipt, _Mapping]]] = ..., audience: _Optional[_Union[AudienceReceipt, _Mapping]] = ...) -> None: ...

class GetReceiptsResponse(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[Receipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[Receipt, _Mapping]]] = ...) -> None: ...

class WatchReceiptsRequest(_message.Message):
    __slots__ = ("type_prefix", "ids", "since")
    TYPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    type_prefix: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    since: str
    def __init__(self, type_prefix: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., since: _Optional[str] = ...) -> None: ...

class ReceiptUpdate(_message.Message):
    __slots__ = ("cursor", "id", "type", "user_id", "state", "at")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    id: str
    type: str
    user_id: str
    state: ReceiptState
    at: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[str] = ..., id: _Optional[str] = ..., type: _Optional[str] = ..., user_id: _Optional[str] = ..., state: _Optional[_Union[ReceiptState, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchReceiptsResponse(_message.Message):
    __slots__ = ("updates", "cursor", "complete")
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[ReceiptUpdate]
    cursor: str
    complete: bool
    def __init__(self, updates: _Optional[_Iterable[_Union[ReceiptUpdate, _Mapping]]] = ..., cursor: _Optional[str] = ..., complete: _Optional[bool] = ...) -> None: ...

class ListTypesRequest(_message.Message):
    __slots__ = ("if_none_match",)
    IF_NONE_MATCH_FIELD_NUMBER: _ClassVar[int]
    if_none_match: str
    def __init__(self, if_none_match: _Optional[str] = ...) -> None: ...

class RegisteredType(_message.Message):
    __slots__ = ("type", "description", "schema_json", "example_json", "deprecated", "deprecation", "targets", "default_priority", "default_ttl")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_JSON_FIELD_NUMBER: _ClassVar[int]
    DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_FIELD_NUMBER: _ClassVar[int]
    type: str
    description: str
    schema_json: str
    example_json: str
    deprecated: bool
    deprecation: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    default_priority: Priority
    default_ttl: _duration_pb2.Duration
    def __init__(self, type: _Optional[str] = ..., description: _Optional[str] = ..., schema_json: _Optional[str] = ..., example_json: _Optional[str] = ..., deprecated: _Optional[bool] = ..., deprecation: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ..., default_priority: _Optional[_Union[Priority, str]] = ..., default_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SharedTypeSchema(_message.Message):
    __slots__ = ("name", "description", "schema_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    schema_json: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., schema_json: _Optional[str] = ...) -> None: ...

class ListTypesResponse(_message.Message):
    __slots__ = ("hash", "mode", "types", "shared", "unchanged")
    HASH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    hash: str
    mode: str
    types: _containers.RepeatedCompositeFieldContainer[RegisteredType]
    shared: _containers.RepeatedCompositeFieldContainer[SharedTypeSchema]
    unchanged: bool
    def __init__(self, hash: _Optional[str] = ..., mode: _Optional[str] = ..., types: _Optional[_Iterable[_Union[RegisteredType, _Mapping]]] = ..., shared: _Optional[_Iterable[_Union[SharedTypeSchema, _Mapping]]] = ..., unchanged: _Optional[bool] = ...) -> None: ...
