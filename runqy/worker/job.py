"""One dequeued task while this worker holds it: lease, time limit and the request line.

The request line format is worker-protocol.md 6.2; the handler deadline is wire-format.md 6.2.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _json_string  # type: ignore[attr-defined]
from typing import TYPE_CHECKING

from runqy.broker import Dequeued, TaskMessage
from runqy.sdk.runtime import encode_json

if TYPE_CHECKING:
    from runqy.worker.process import TaskProcess


class RequestTooLarge(Exception):
    """The request line would exceed the protocol limit (6.5)."""


@dataclass
class Job:
    """A task in flight here. `lost` and `abort_reason` are set by the worker's loops."""

    queue: str
    parent: str
    msg: TaskMessage
    lease_expires_at: float
    started_at: float
    deadline: float
    process: TaskProcess | None = None
    lost: bool = False
    abort_reason: str | None = None
    sent_at: float | None = None  # monotonic; when a slot sent it to a task process
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def task_id(self) -> str:
        return self.msg.id

    @classmethod
    def from_dequeued(
        cls, dequeued: Dequeued, parent: str, default_time_limit: float, now: float | None = None
    ) -> Job:
        now = time.time() if now is None else now
        msg = dequeued.msg
        limits = []
        if msg.timeout > 0:
            limits.append(now + msg.timeout)
        if msg.deadline > 0:
            limits.append(float(msg.deadline))
        deadline = min(limits) if limits else now + default_time_limit
        return cls(dequeued.queue, parent, msg, float(dequeued.lease_expires_at), now, deadline)

    def lease_holds(self) -> bool:
        """Whether the lease this worker last confirmed still holds: a write for the task (its
        outcome, a requeue) may still be made."""
        return not self.lost and time.time() < self.lease_expires_at

    @property
    def deadline_passed_at_start(self) -> bool:
        return 0 < self.msg.deadline <= self.started_at

    def time_limit_text(self) -> str:
        return f"task timed out after {round(self.deadline - self.started_at):d} s"

    def request_line(self, max_size: int) -> bytes:
        """The compact JSON request line, or RequestTooLarge before anything is sent.

        A payload that is JSON on one line is spliced in as it is (never decoded and
        re-encoded), so any JSON a producer wrote, lone surrogate escapes included, reaches the
        task process unchanged.
        """
        line = self._request_head() + b',"payload":' + _payload_json(self.msg.payload) + b"}\n"
        if len(line) - 1 > max_size:
            raise RequestTooLarge(
                f"payload too large for the task protocol ({len(line) - 1} > {max_size} bytes)"
            )
        return line

    def _request_head(self) -> bytes:
        """Every key but the payload, without the closing brace: formatted directly, as
        `encode_json` would write it (floats by repr, strings by the JSON string encoder)."""
        msg = self.msg
        head = (f'{{"task_id":{_json_string(msg.id)},"type":{_json_string(msg.type)},'
                f'"queue":{_json_string(self.queue)},"retried":{msg.retried:d},'
                f'"max_retry":{msg.retry:d},"retry_count":{msg.retried:d},'
                f'"deadline":{float(self.deadline)!r}')
        try:
            return head.encode()
        except UnicodeEncodeError:  # a lone surrogate: keep JSON's escapes
            return encode_json({
                "task_id": msg.id, "type": msg.type, "queue": self.queue,
                "retried": msg.retried, "max_retry": msg.retry, "retry_count": msg.retried,
                "deadline": self.deadline,
            })[:-1]


def _payload_json(raw: bytes) -> bytes:
    """The payload as a JSON value (6.2): its own bytes when they are JSON, else UTF-8 text as a
    string, else base64 (the caller adds ``payload_encoding``)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return b'"' + base64.b64encode(raw) + b'","payload_encoding":"base64"'
    try:
        value = json.loads(text)  # only to know that it is JSON (empty or blank text is not)
    except ValueError:
        return encode_json(text)
    if b"\n" in raw or b"\r" in raw:
        return encode_json(value)  # JSON spread over lines: one line on the wire
    return raw
