"""The protobuf codec against Go's bytes, unknown fields, and arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runqy.broker import MessageDecodeError, TaskMessage, codec, decode_task, encode
from tests.broker import golden

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(max_size=40)


def _all_golden_values() -> list[tuple[str, str, bytes]]:
    return [
        (name, message, data)
        for name in golden.scenario_names()
        for message, data in golden.protobuf_values(golden.scenario(name))
    ]


GOLDEN_VALUES = _all_golden_values()


def test_the_vectors_hold_every_kind_of_fleet_and_task_message():
    assert {message for _, message, _ in GOLDEN_VALUES} == {
        "TaskMessage",
        "ServerInfo",
        "WorkerInfo",
    }
    assert len(GOLDEN_VALUES) >= 28


@pytest.mark.parametrize(("scenario", "message", "data"), GOLDEN_VALUES)
def test_go_bytes_decode_and_reencode_byte_for_byte(scenario, message, data):
    decoded = codec.decode(codec.MESSAGE_CLASSES[message], data)
    assert encode(decoded) == data
    assert codec.decode(codec.MESSAGE_CLASSES[message], encode(decoded)) == decoded


def test_decoded_fields_carry_go_values():
    data = golden.snapshot(golden.scenario("enqueue_options"), "after_enqueue")
    msg_bytes = golden.golden_entries(data)["asynq:{inference.high}:t:t-opts"].value[b"msg"]
    msg = decode_task(msg_bytes)
    assert (msg.type, msg.id, msg.queue, msg.payload) == (
        "email:send",
        "t-opts",
        "inference.high",
        b'{"to":"a@b.c"}',
    )
    assert (msg.retry, msg.timeout, msg.deadline, msg.retention) == (3, 60, 2000000000, 86400)


def test_unknown_fields_survive_a_python_update():
    unknown = bytes.fromhex("a00603") + bytes.fromhex("aa0603") + b"abc"  # fields 100 and 101
    original = encode(TaskMessage(type="t", id="x", queue="q.default", retry=3)) + unknown
    msg = decode_task(original)
    msg.retried += 1
    msg.error_msg = "boom"
    reencoded = encode(msg)
    assert reencoded.endswith(unknown)
    again = decode_task(reencoded)
    assert (again.retried, again.error_msg, again.retry) == (1, "boom", 3)


def test_headers_round_trip():
    msg = TaskMessage(type="t", id="x", queue="q.default")
    msg.headers["trace"] = "abc"
    assert dict(decode_task(encode(msg)).headers) == {"trace": "abc"}


def test_invalid_utf8_in_a_string_field_is_a_decode_error():
    with pytest.raises(MessageDecodeError):
        decode_task(b"\x0a\x02\xff\xfe")  # field 1 (type) with invalid UTF-8


task_messages = st.builds(
    TaskMessage,
    type=TEXT,
    payload=st.binary(max_size=64),
    id=TEXT,
    queue=TEXT,
    retry=INT32,
    retried=INT32,
    error_msg=TEXT,
    timeout=INT64,
    deadline=INT64,
    unique_key=TEXT,
    last_failed_at=INT64,
    retention=INT64,
    completed_at=INT64,
    group_key=TEXT,
    headers=st.dictionaries(TEXT, TEXT, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(task_messages)
def test_any_task_message_round_trips(msg):
    assert decode_task(encode(msg)) == msg


server_infos = st.builds(
    codec.ServerInfo,
    host=TEXT,
    pid=INT32,
    server_id=TEXT,
    concurrency=INT32,
    queues=st.dictionaries(TEXT, INT32, max_size=4),
    strict_priority=st.booleans(),
    status=TEXT,
    start_time=st.builds(codec.timestamp, st.integers(0, 2**40), st.integers(0, 999_999_999)),
    active_worker_count=INT32,
)


@settings(max_examples=200, deadline=None)
@given(server_infos)
def test_any_server_info_round_trips(info):
    assert codec.decode_server_info(encode(info)) == info


scheduler_entries = st.builds(
    codec.SchedulerEntry,
    id=TEXT,
    spec=TEXT,
    task_type=TEXT,
    task_payload=st.binary(max_size=32),
    enqueue_options=st.lists(TEXT, max_size=4),
    next_enqueue_time=st.builds(codec.timestamp, st.integers(0, 2**40)),
)


@settings(max_examples=100, deadline=None)
@given(scheduler_entries)
def test_any_scheduler_entry_round_trips(entry):
    assert codec.decode(codec.SchedulerEntry, encode(entry)) == entry


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(sorted(codec.MESSAGE_CLASSES)), st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_message_decode_error(message, data):
    cls = codec.MESSAGE_CLASSES[message]
    try:
        decoded = codec.decode(cls, data)
    except MessageDecodeError:
        return
    assert isinstance(decoded, cls)
    # whatever parsed must survive our own round trip
    assert codec.decode(cls, encode(decoded)) == decoded
