"""HTTP client for the runqy client routes (worker-protocol.md 9.2, http-api.md section 5).

Standard library only, so task code can enqueue follow-up tasks from any environment.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

LONG_POLL_MAX = 120
_ENQUEUE_OPTIONS = (
    "timeout", "max_retry", "retention", "process_in", "process_at", "unique_ttl", "task_id",
    "deadline",
)


class RunqyError(Exception):
    """Any failure talking to the server; carries the error envelope when there was one."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None,
        errors: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.errors = list(errors)


class AuthenticationError(RunqyError):
    """The server refused the API key (401 or 403)."""


class TaskNotFoundError(RunqyError):
    """The task is unknown or has expired (404 `task_not_found`)."""


class QueueNotFoundError(RunqyError):
    """The queue is not configured on the server (404 `queue_not_found`)."""


@dataclass
class TaskInfo:
    """A task as the server reports it."""

    task_id: str
    queue: str
    state: str
    payload: Any = None
    result: Any = None
    error: str | None = None
    retried: int = 0
    max_retry: int = 0
    next_process_at: str | None = None
    completed_at: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("completed", "archived")

    @property
    def succeeded(self) -> bool:
        return self.state == "completed"

    @property
    def failed(self) -> bool:
        return self.state == "archived"

    @classmethod
    def from_api(cls, info: dict[str, Any]) -> TaskInfo:
        return cls(
            task_id=info["id"],
            queue=info.get("queue", ""),
            state=info.get("state", ""),
            payload=info.get("payload"),
            result=info.get("result"),
            error=info.get("last_err"),
            retried=info.get("retried", 0),
            max_retry=info.get("max_retry", 0),
            next_process_at=info.get("next_process_at"),
            completed_at=info.get("completed_at"),
        )


@dataclass
class BatchResult:
    """The merged answer of one or more `POST /queue/add-batch` requests."""

    enqueued: int = 0
    failed: int = 0
    task_ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class _HTTPAnswer:
    def __init__(self, status: int, body: Any, headers: Any) -> None:
        self.status = status
        self.body = body
        self.headers = headers


_NOT_FOUND_ERRORS = {"task_not_found": TaskNotFoundError, "queue_not_found": QueueNotFoundError}


class RunqyClient:
    """Client for enqueueing tasks and reading their state. Safe to share between threads."""

    def __init__(self, url: str, api_key: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None,
        accept: tuple[int, ...] = (),
    ) -> _HTTPAnswer:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured server
            self.url + path, data=data, method=method, headers=self._headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310
                return _HTTPAnswer(response.status, _json_body(response.read()), response.headers)
        except urllib.error.HTTPError as exc:
            answer = _HTTPAnswer(exc.code, _json_body(exc.read()), exc.headers)
            if exc.code in accept:
                return answer
            raise _error_for(answer) from None
        except (urllib.error.URLError, OSError) as exc:  # OSError covers socket timeouts
            reason = getattr(exc, "reason", exc)
            raise RunqyError(f"cannot reach the runqy server at {self.url}: {reason}") from exc

    def enqueue(self, queue: str, payload: Any, **options: Any) -> TaskInfo:
        """Enqueue one task (`POST /queue/add`, nested form); `None` options are not sent."""
        unknown = set(options) - set(_ENQUEUE_OPTIONS)
        if unknown:
            raise TypeError(f"unknown enqueue option(s): {', '.join(sorted(unknown))}")
        body = {"queue": queue, "data": payload}
        body.update({k: v for k, v in options.items() if v is not None})
        answer = self._request("POST", "/queue/add", body)
        return TaskInfo.from_api(answer.body["info"])

    def enqueue_batch(
        self, queue: str, payloads: Sequence[Any], *, chunk_size: int = 10000, **defaults: Any
    ) -> BatchResult:
        """Enqueue many payloads through `POST /queue/add-batch`, `chunk_size` jobs per request."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        merged = BatchResult()
        sent_defaults = {k: v for k, v in defaults.items() if v is not None}
        for start in range(0, len(payloads), chunk_size):
            jobs = [{"data": p} for p in payloads[start:start + chunk_size]]
            answer = self._request(
                "POST", "/queue/add-batch", {"queue": queue, "jobs": jobs, **sent_defaults}
            )
            merged.enqueued += answer.body.get("enqueued", 0)
            merged.failed += answer.body.get("failed", 0)
            merged.task_ids.extend(answer.body.get("task_ids", []))
            for error in answer.body.get("errors", []):
                merged.errors.append({**error, "index": error.get("index", 0) + start})
        return merged

    def get_task(self, task_id: str) -> TaskInfo:
        """The task's current state (`GET /queue/<id>`)."""
        answer = self._request("GET", "/queue/" + urllib.parse.quote(task_id, safe=""))
        return TaskInfo.from_api(answer.body["info"])

    def wait(self, task_id: str, timeout: float | None = None) -> TaskInfo:
        """Long-poll until the task is completed or archived; `TimeoutError` after `timeout` s."""
        limit = None if timeout is None else time.monotonic() + timeout
        path = "/queue/" + urllib.parse.quote(task_id, safe="")
        while True:
            poll = LONG_POLL_MAX
            if limit is not None:
                left = limit - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"task {task_id} did not finish within {timeout} s")
                poll = max(1, min(LONG_POLL_MAX, int(left)))
            answer = self._request(
                "GET", f"{path}?wait=true&timeout={poll}", timeout=poll + self.timeout,
                accept=(408, 429),
            )
            if answer.status == 429:
                time.sleep(_retry_after(answer.headers))
                continue
            if answer.status == 200:
                info = TaskInfo.from_api(answer.body["info"])
                if info.done:
                    return info


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _retry_after(headers: Any) -> float:
    try:
        return max(0.1, float(headers.get("Retry-After", 1)))
    except (TypeError, ValueError):
        return 1.0


def _error_for(answer: _HTTPAnswer) -> RunqyError:
    body = answer.body if isinstance(answer.body, dict) else {}
    errors = body.get("errors") or []
    code = body.get("code")
    message = "; ".join(str(e) for e in errors) or f"HTTP {answer.status}"
    if answer.status in (401, 403):
        cls: type[RunqyError] = AuthenticationError
    else:
        cls = _NOT_FOUND_ERRORS.get(code, RunqyError) if answer.status == 404 else RunqyError
    return cls(message, status=answer.status, code=code, errors=errors)


def enqueue(
    queue: str, payload: Any, server_url: str, api_key: str, timeout: int = 300
) -> TaskInfo:
    """runqy-python 0.2.x compatible one-call enqueue; `timeout` is the task's time limit."""
    return RunqyClient(server_url, api_key).enqueue(queue, payload, timeout=timeout)
