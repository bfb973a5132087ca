"""The API's JSON objects, built from core and broker data: the one definition of each shape.

Pure functions to JSON-able dicts. The API views return them, and the operator CLI prints the
same objects in local mode (without importing the web layer), so both modes answer alike.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from runqy.broker.states import LISTED_STATES
from runqy.core.values import SUSPECT_JSON_TEXT, format_time, parent_of, reject_json_constant
from runqy.core.vaults import shown_value

if TYPE_CHECKING:
    from runqy.broker.inspector import DailyStats, QueueStats, TaskInfo
    from runqy.core.cipher import VaultCipher
    from runqy.core.enqueue import BatchOutcome, Enqueued
    from runqy.core.models import Vault, VaultEntry
    from runqy.core.queues import Deleted, QueueSummary
    from runqy.core.tasks import TaskPage

STATE_COUNTS = LISTED_STATES

# The state a change leaves a task in, as the single-task routes answer it.
ANSWERS = {
    "delete": {"deleted": True},
    "run": {"state": "pending"},
    "archive": {"state": "archived"},
    "cancel": {"cancel_requested": True},
}


def decode_user_bytes(data: bytes | None, key: str) -> dict[str, Any]:
    """JSON value, else UTF-8 text, else base64 with `<key>_encoding` (http-api.md 5.1)."""
    if data is None:
        return {key: None}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {key: base64.b64encode(data).decode("ascii"), f"{key}_encoding": "base64"}
    try:
        value = json.loads(text, parse_constant=reject_json_constant)
        if SUSPECT_JSON_TEXT.search(text):
            json.dumps(value, allow_nan=False)  # 1e400 is infinity: not sendable as JSON
    except (ValueError, RecursionError):
        return {key: text}
    return {key: value}


def task_object(info: TaskInfo) -> dict[str, Any]:
    """The task object of http-api.md 5.1 from a broker TaskInfo."""
    obj: dict[str, Any] = {"id": info.id, "queue": info.queue, "type": info.type,
                           "state": info.state}
    obj.update(decode_user_bytes(info.payload, "payload"))
    obj.update({
        "max_retry": info.max_retry,
        "retried": info.retried,
        "last_err": info.error_msg or None,
        "last_failed_at": format_time(info.last_failed_at),
        "next_process_at": format_time(info.next_process_at),
        "completed_at": format_time(info.completed_at),
        "timeout": info.timeout,
        "deadline": format_time(info.deadline),
        "retention": info.retention,
    })
    if info.result is None:
        obj["result"] = None
    else:
        obj.update(decode_user_bytes(info.result, "result"))
    obj["is_orphaned"] = bool(info.is_orphaned)
    if info.group:
        obj["group"] = info.group
    return obj


def new_task_object(done: Enqueued) -> dict[str, Any]:
    """The task object of a task just enqueued, without reading it back from Redis."""
    msg = done.msg
    return {
        "id": msg.id, "queue": msg.queue, "type": msg.type, "state": done.result.state,
        "payload": done.data, "max_retry": msg.retry, "retried": 0, "last_err": None,
        "last_failed_at": None, "next_process_at": format_time(done.result.next_process_at),
        "completed_at": None, "timeout": msg.timeout, "deadline": format_time(msg.deadline),
        "retention": msg.retention, "result": None, "is_orphaned": False,
    }



def added_object(done: Enqueued) -> dict[str, Any]:
    """The answer to one enqueue (`POST /queue/add`)."""
    return {"info": new_task_object(done), "data": done.data}


def batch_object(outcome: BatchOutcome) -> dict[str, Any]:
    """The answer to a batch enqueue (`POST /queue/add-batch`)."""
    return {"enqueued": len(outcome.task_ids), "failed": len(outcome.errors),
            "task_ids": outcome.task_ids, "errors": outcome.errors}

def _stats_object(name: str, stats: QueueStats | None, configured: bool) -> dict[str, Any]:
    """A runtime queue's statistics (section 7.1); zeros before anything was enqueued."""
    obj: dict[str, Any] = {"queue": name, "parent": parent_of(name), "configured": configured}
    if stats is None:
        obj.update({"paused": False, "size": 0, **dict.fromkeys(STATE_COUNTS, 0),
                    "latency_ms": 0, "memory_bytes": 0, "processed_today": 0,
                    "failed_today": 0, "succeeded_today": 0, "processed_total": 0,
                    "failed_total": 0})
    else:
        obj.update({
            "paused": bool(stats.paused), "size": stats.size,
            **{key: getattr(stats, key) for key in STATE_COUNTS},
            "latency_ms": int(round(stats.latency_seconds * 1000)),
            "memory_bytes": stats.memory_bytes,
            "processed_today": stats.processed, "failed_today": stats.failed,
            "succeeded_today": stats.processed - stats.failed,
            "processed_total": stats.processed_total, "failed_total": stats.failed_total,
        })
    obj["timestamp"] = format_time(time.time())
    return obj


def summary_object(summary: QueueSummary) -> dict[str, Any]:
    """A queue of the listing: its statistics, or nulls and why they could not be read."""
    if summary.error is None:
        return _stats_object(summary.name, summary.stats, summary.configured)
    return {"queue": summary.name, "parent": parent_of(summary.name),
            "configured": summary.configured, "paused": None, "size": None,
            **dict.fromkeys(STATE_COUNTS), "error": summary.error}


def queue_detail_object(summary: QueueSummary, history: list[DailyStats]) -> dict[str, Any]:
    """One queue's statistics and its daily counts, newest day first."""
    return {"queue": summary_object(summary), "history": [
        {"date": day.date, "processed": day.processed, "failed": day.failed,
         "succeeded": day.processed - day.failed} for day in reversed(history)]}


def deleted_queue_object(deleted: Deleted) -> dict[str, Any]:
    return {"queue": deleted.name, "deleted": True, "config_disabled": deleted.config_disabled}


def task_list_object(queue: str, state: str, page: int, size: int, listed: TaskPage,
                     needle: str | None) -> dict[str, Any]:
    """One page of a queue's tasks in a state (section 7.2)."""
    return {"queue": queue, "state": state, "page": page, "size": size, "total": listed.total,
            "q": needle, "tasks": [task_object(info) for info in listed.tasks]}


def vault_object(vault: Vault) -> dict[str, Any]:
    return {"name": vault.name, "description": vault.description,
            "entry_count": len(vault.entries), "created_at": format_time(vault.created_at),
            "updated_at": format_time(vault.updated_at)}


def entry_object(entry: VaultEntry, cipher: VaultCipher) -> dict[str, Any]:
    """A vault entry, a secret's value masked."""
    return {"key": entry.key, "value": shown_value(entry, cipher),
            "value_length": entry.value_length, "is_secret": entry.is_secret,
            "created_at": format_time(entry.created_at),
            "updated_at": format_time(entry.updated_at)}


def vault_detail_object(vault: Vault, cipher: VaultCipher) -> dict[str, Any]:
    """A vault with its entries, secrets masked."""
    return {**vault_object(vault), "entries": [entry_object(e, cipher) for e in vault.entries]}
