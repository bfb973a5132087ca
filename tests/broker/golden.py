"""Reading the asynq golden vectors and dumping a live Redis into the same shape.

Both sides become ``{key: Entry}`` with raw bytes, so a test can compare them with the masks and
relations of /work/shared/asynq-vectors/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from google.protobuf.json_format import MessageToDict

from runqy.broker import codec

# shared/ sits beside the checkout (as CI lays it out); /work/shared on a developer's machine.
VECTORS = next((p for p in (Path(__file__).resolve().parents[3] / "shared" / "asynq-vectors",
                            Path("/work/shared/asynq-vectors")) if p.is_dir()),
               Path("/work/shared/asynq-vectors"))
DAY = 86400
_DATE = re.compile(r":\d{4}-\d{2}-\d{2}$")
RUNQY_KEY_PREFIXES = ("asynq:result:", "runqy:")


@dataclass
class Entry:
    type: str
    ttl_ms: int
    value: Any  # bytes | dict[bytes, bytes] | list[bytes] | set[bytes] | list[tuple[bytes, float]]


def scenario(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


def scenario_names() -> list[str]:
    return sorted(p.stem for p in VECTORS.glob("*.json"))


def snapshot(data: dict, label: str) -> dict:
    return next(s for s in data["snapshots"] if s["label"] == label)


def _bytes(obj: dict) -> bytes:
    return bytes.fromhex(obj["hex"]) if "hex" in obj else obj["text"].encode()


def golden_entries(snap: dict) -> dict[str, Entry]:
    out = {}
    for k in snap["keys"]:
        kind, raw = k["type"], k["value"]
        if kind == "string":
            value: Any = _bytes(raw)
        elif kind == "hash":
            value = {f["field"].encode(): _bytes(f) for f in raw}
        elif kind == "list":
            value = [_bytes(v) for v in raw]
        elif kind == "set":
            value = {_bytes(v) for v in raw}
        else:
            value = [(_bytes(v), v["score"]) for v in raw]
        out[k["key"]] = Entry(kind, k["ttl_ms"], value)
    return out


def protobuf_values(data: dict) -> list[tuple[str, bytes]]:
    """Every (message name, bytes) pair recorded in a vector file."""
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "protobuf" in node and "hex" in node:
                found.append((node["protobuf"]["message"], bytes.fromhex(node["hex"])))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(data["snapshots"])
    return found


def live_entries(client: redis.Redis) -> dict[str, Entry]:
    """The whole database, runqy-layer keys excluded (the golden dumps have none)."""
    out = {}
    for raw_key in sorted(client.keys("*")):
        key = raw_key.decode()
        if key.startswith(RUNQY_KEY_PREFIXES):
            continue
        kind = client.type(raw_key).decode()
        if kind == "string":
            value: Any = client.get(raw_key)
        elif kind == "hash":
            value = client.hgetall(raw_key)
        elif kind == "list":
            value = client.lrange(raw_key, 0, -1)
        elif kind == "set":
            value = client.smembers(raw_key)
        else:
            value = client.zrange(raw_key, 0, -1, withscores=True)
        out[key] = Entry(kind, client.pttl(raw_key), value)
    return out


# -- comparison with masks ----------------------------------------------------------------------

_TASK_TIME_FIELDS = ("last_failed_at", "completed_at")
_FLEET_TIME_FIELDS = ("start_time", "deadline")


def _decoded(cls: type, data: bytes, masked: tuple[str, ...]) -> dict:
    fields = MessageToDict(codec.decode(cls, data))
    return {k: v for k, v in fields.items() if k not in masked}


def _normal_key(key: str) -> str:
    return _DATE.sub(":<date>", key)


def normalised(entries: dict[str, Entry]) -> dict[str, tuple]:
    """Entries with every time- and run-dependent value masked, protobufs decoded."""
    out = {}
    for key, entry in entries.items():
        value = entry.value
        if entry.type == "string" and key.startswith("asynq:servers:"):
            value = _decoded(codec.ServerInfo, value, ("start_time",))
        elif entry.type == "string" and key.endswith(":paused"):
            value = "<time>"
        elif entry.type == "hash" and key.startswith("asynq:workers:{"):
            value = {f: _decoded(codec.WorkerInfo, v, _FLEET_TIME_FIELDS) for f, v in value.items()}
        elif entry.type == "hash":
            value = dict(value)
            if b"msg" in value:
                value[b"msg"] = _decoded(codec.TaskMessage, value[b"msg"], _TASK_TIME_FIELDS)
            if b"pending_since" in value:
                value[b"pending_since"] = "<ns>"
        elif entry.type == "zset":
            value = [member for member, _ in value]
        out[_normal_key(key)] = (entry.type, entry.ttl_ms != -1, value)
    return out


# -- relations of the README (scores, TTLs, times) ----------------------------------------------


def _within(value: float, low: float, high: float, what: str) -> None:
    assert low <= value <= high, f"{what}: {value} not in [{low}, {high}]"


def check_relations(entries: dict[str, Entry], now: float) -> None:
    """Assert the README's relations for every time-dependent value in one dump."""
    tasks = {
        key: codec.decode_task(e.value[b"msg"])
        for key, e in entries.items()
        if e.type == "hash" and b"msg" in e.value
    }
    for key, entry in entries.items():
        if entry.ttl_ms != -1:
            if ":unique:" in key:
                _within(entry.ttl_ms / 1000, 3590, 3600, key)
            elif _DATE.search(key):
                _within(entry.ttl_ms / 1000, 90 * DAY - 60, 90 * DAY, key)
            elif key.startswith(("asynq:servers:", "asynq:workers:")):
                _within(entry.ttl_ms / 1000, 5, 10, key)
            else:
                raise AssertionError(f"unexpected TTL on {key}")
        if entry.type == "string" and key.endswith(":paused"):
            _within(int(entry.value), now - 10, now + 1, key)
        if entry.type == "hash" and b"pending_since" in entry.value:
            _within(int(entry.value[b"pending_since"]) / 1e9, now - 10, now + 1, key)
        if entry.type == "zset":
            prefix = key.rsplit(":", 1)[0]
            for member, score in entry.value:
                msg = tasks.get(f"{prefix}:t:{member.decode()}")
                _check_score(key, score, msg, now)
    for key, msg in tasks.items():
        for field in ("last_failed_at", "completed_at"):
            if getattr(msg, field):
                _within(getattr(msg, field), now - 60, now + 1, f"{key} {field}")


def _check_score(key: str, score: float, msg: codec.TaskMessage | None, now: float) -> None:
    assert score == int(score), f"{key}: fractional score {score}"
    role = key.rsplit(":", 1)[1]
    if key in ("asynq:servers", "asynq:workers"):
        _within(score, now + 5, now + 11, key)
    elif role == "lease":
        _within(score, now + 25, now + 31, key)
    elif role == "scheduled":
        _within(score, now + 3590, now + 3601, key)
    elif role == "retry":
        assert msg is not None
        _within(score - msg.last_failed_at, 14, 45, f"{key} delay")
    elif role == "completed":
        assert msg is not None and score == msg.completed_at + msg.retention, key
    elif role == "archived" and msg is not None and msg.last_failed_at:
        _within(score - msg.last_failed_at, 0, 1, key)
    else:  # inspector archive, group membership: the time of the action
        _within(score, now - 10, now + 1, key)
