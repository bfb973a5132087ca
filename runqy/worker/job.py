"""One dequeued task while this worker holds it: lease, time limit and the request line.

The request line format is worker-protocol.md 6.2; the handler deadline is wire-format.md 6.2.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runqy.broker import Dequeued, TaskMessage

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

    @property
    def deadline_passed_at_start(self) -> bool:
        return 0 < self.msg.deadline <= self.started_at

    def time_limit_text(self) -> str:
        return f"task timed out after {round(self.deadline - self.started_at):d} s"

    def request_line(self, max_size: int) -> bytes:
        """The compact JSON request line, or RequestTooLarge before anything is sent."""
        msg = self.msg
        request: dict[str, Any] = {
            "task_id": msg.id, "type": msg.type, "queue": self.queue,
            "payload": None, "retried": msg.retried, "max_retry": msg.retry,
            "retry_count": msg.retried, "deadline": self.deadline,
        }
        raw = msg.payload
        try:
            text = raw.decode("utf-8")
            try:
                request["payload"] = json.loads(text) if text.strip() else text
            except ValueError:
                request["payload"] = text
        except UnicodeDecodeError:
            request["payload"] = base64.b64encode(raw).decode("ascii")
            request["payload_encoding"] = "base64"
        line = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        if len(line) - 1 > max_size:
            raise RequestTooLarge(
                f"payload too large for the task protocol ({len(line) - 1} > {max_size} bytes)"
            )
        return line
