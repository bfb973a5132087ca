"""Task messages for the broker tests."""

from __future__ import annotations

from runqy.broker import TaskMessage

Q = "inference.default"
PAYLOAD = b'{"x":1}'


def task(task_id: str = "", queue: str = Q, **fields) -> TaskMessage:
    """A runqy-style task (type = queue name, retry 3, timeout 1800) unless fields say otherwise."""
    options = {"type": queue, "payload": PAYLOAD, "retry": 3, "timeout": 1800} | fields
    return TaskMessage(id=task_id, queue=queue, **options)
