"""Protobuf codec for the asynq v0.26 messages (wire-format.md section 4).

No protoc is available, so the schema of asynq's ``asynq.proto`` is declared here as a
``FileDescriptorProto`` built in Python and loaded into a private descriptor pool at import time.
The official ``protobuf`` runtime then gives real message classes that keep unknown fields on
decode and write them back on encode, as section 4.3 requires.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory, timestamp_pb2

from runqy.broker.errors import MessageDecodeError

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _BYTES, _INT32, _INT64, _BOOL, _MESSAGE = (
    _F.TYPE_STRING,
    _F.TYPE_BYTES,
    _F.TYPE_INT32,
    _F.TYPE_INT64,
    _F.TYPE_BOOL,
    _F.TYPE_MESSAGE,
)
_TIMESTAMP = ".google.protobuf.Timestamp"

# (name, number, type, message type name or None); order as in asynq.proto.
_SCHEMA: dict[str, list[tuple[str, int, int, str | None]]] = {
    "TaskMessage": [
        ("type", 1, _STRING, None),
        ("payload", 2, _BYTES, None),
        ("id", 3, _STRING, None),
        ("queue", 4, _STRING, None),
        ("retry", 5, _INT32, None),
        ("retried", 6, _INT32, None),
        ("error_msg", 7, _STRING, None),
        ("timeout", 8, _INT64, None),
        ("deadline", 9, _INT64, None),
        ("unique_key", 10, _STRING, None),
        ("last_failed_at", 11, _INT64, None),
        ("retention", 12, _INT64, None),
        ("completed_at", 13, _INT64, None),
        ("group_key", 14, _STRING, None),
        ("headers", 15, _MESSAGE, "map<string,string>"),
    ],
    "ServerInfo": [
        ("host", 1, _STRING, None),
        ("pid", 2, _INT32, None),
        ("server_id", 3, _STRING, None),
        ("concurrency", 4, _INT32, None),
        ("queues", 5, _MESSAGE, "map<string,int32>"),
        ("strict_priority", 6, _BOOL, None),
        ("status", 7, _STRING, None),
        ("start_time", 8, _MESSAGE, _TIMESTAMP),
        ("active_worker_count", 9, _INT32, None),
    ],
    "WorkerInfo": [
        ("host", 1, _STRING, None),
        ("pid", 2, _INT32, None),
        ("server_id", 3, _STRING, None),
        ("task_id", 4, _STRING, None),
        ("task_type", 5, _STRING, None),
        ("task_payload", 6, _BYTES, None),
        ("queue", 7, _STRING, None),
        ("start_time", 8, _MESSAGE, _TIMESTAMP),
        ("deadline", 9, _MESSAGE, _TIMESTAMP),
    ],
    "SchedulerEntry": [
        ("id", 1, _STRING, None),
        ("spec", 2, _STRING, None),
        ("task_type", 3, _STRING, None),
        ("task_payload", 4, _BYTES, None),
        ("enqueue_options", 5, _STRING, "repeated"),
        ("next_enqueue_time", 6, _MESSAGE, _TIMESTAMP),
        ("prev_enqueue_time", 7, _MESSAGE, _TIMESTAMP),
    ],
    "SchedulerEnqueueEvent": [
        ("task_id", 1, _STRING, None),
        ("enqueue_time", 2, _MESSAGE, _TIMESTAMP),
    ],
}

_MAP_VALUE_TYPES = {"map<string,string>": _STRING, "map<string,int32>": _INT32}


def _entry_name(field_name: str) -> str:
    return "".join(part.capitalize() for part in field_name.split("_")) + "Entry"


def _add_field(msg: descriptor_pb2.DescriptorProto, name: str, number: int, ftype: int) -> _F:
    field = msg.field.add(name=name, number=number, type=ftype, label=_F.LABEL_OPTIONAL)
    field.json_name = name
    return field


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="runqy/asynq.proto",
        package="asynq",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    for msg_name, fields in _SCHEMA.items():
        msg = proto.message_type.add(name=msg_name)
        for name, number, ftype, extra in fields:
            if extra in _MAP_VALUE_TYPES:
                entry = msg.nested_type.add(name=_entry_name(name))
                entry.options.map_entry = True
                _add_field(entry, "key", 1, _STRING)
                _add_field(entry, "value", 2, _MAP_VALUE_TYPES[extra])
                field = _add_field(msg, name, number, _MESSAGE)
                field.label = _F.LABEL_REPEATED
                field.type_name = f".asynq.{msg_name}.{entry.name}"
            elif extra == "repeated":
                _add_field(msg, name, number, ftype).label = _F.LABEL_REPEATED
            else:
                field = _add_field(msg, name, number, ftype)
                if extra:
                    field.type_name = extra
    return proto


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_file_descriptor())
    return pool


_POOL = _build_pool()


def _message_class(name: str) -> type[message.Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"asynq.{name}"))


TaskMessage = _message_class("TaskMessage")
ServerInfo = _message_class("ServerInfo")
WorkerInfo = _message_class("WorkerInfo")
SchedulerEntry = _message_class("SchedulerEntry")
SchedulerEnqueueEvent = _message_class("SchedulerEnqueueEvent")
Timestamp = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("google.protobuf.Timestamp")
)

MESSAGE_CLASSES: dict[str, type[message.Message]] = {
    "TaskMessage": TaskMessage,
    "ServerInfo": ServerInfo,
    "WorkerInfo": WorkerInfo,
    "SchedulerEntry": SchedulerEntry,
    "SchedulerEnqueueEvent": SchedulerEnqueueEvent,
}


def encode(msg: message.Message) -> bytes:
    """Serialise any of the messages above (fields in ascending number order, as Go does)."""
    return msg.SerializeToString(deterministic=True)


def decode(cls: type[message.Message], data: bytes) -> message.Message:
    """Parse ``data`` as ``cls``; raise MessageDecodeError on anything that is not one."""
    msg = cls()
    try:
        msg.ParseFromString(bytes(data))
    except Exception as exc:  # the runtime raises several types for malformed input
        raise MessageDecodeError(f"invalid {cls.DESCRIPTOR.name}: {exc}") from exc
    return msg


def decode_task(data: bytes) -> TaskMessage:
    """Parse a task hash's ``msg`` field."""
    return decode(TaskMessage, data)


def decode_server_info(data: bytes) -> ServerInfo:
    return decode(ServerInfo, data)


def decode_worker_info(data: bytes) -> WorkerInfo:
    return decode(WorkerInfo, data)


def timestamp(seconds: int, nanos: int = 0) -> Timestamp:
    """A ``google.protobuf.Timestamp`` of this pool, for ServerInfo/WorkerInfo time fields."""
    return Timestamp(seconds=seconds, nanos=nanos)
