"""Text search over tasks at any scale (read-only): a resumable cursor over state containers.

A search walks (queue, state) containers (for ``aggregating``, one group's) one after the other,
newest tasks first, in chunks of ``CHUNK`` IDs: one ``ZREVRANGE``/``LRANGE`` by rank plus one
``HMGET msg error_msg`` per ID, sent as one raw pipeline, so every Redis command is small
(microseconds) however large the state. The next chunk is sent before this one is matched, so
Redis reads while Python matches. The raw ``msg`` bytes are tested first; only those containing
the needle are decoded to check the field asked for, so a miss costs one lowercase and one
substring test.

``search`` runs until a time budget or a match count is reached and returns a `SearchCursor` to
resume from, and how many IDs it has read against the containers' sizes. Ranks count from the
newest end, where new tasks arrive: a task added during the search shifts the ranks and one
task may be read twice; a task moved out of a part already read shifts them the other way and
one may be missed, as with any live listing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import redis

from runqy.broker import keys
from runqy.broker.codec import TaskMessage, decode_task
from runqy.broker.errors import MessageDecodeError, TaskNotFoundError
from runqy.broker.inspector import Inspector, TaskInfo, text
from runqy.broker.pipeline import RawPipeline
from runqy.broker.states import LIST_STATES, ZSET_STATES

CHUNK = 1000
FIELDS = ("any", "error", "type", "id", "payload")  # the search page's choices
# The fields each choice tests; "text" is the task listings' filter (the queue page, the API's
# `q`): ID, type or payload, not the error.
TESTED = {"any": ("id", "type", "error", "payload"), "error": ("error",), "type": ("type",),
          "id": ("id",), "payload": ("payload",), "text": ("id", "type", "payload")}
_FIELD_TEXT: dict[str, Callable[[TaskInfo | TaskMessage], str]] = {
    "id": lambda task: task.id,
    "type": lambda task: task.type,
    "error": lambda task: task.error_msg,
    "payload": lambda task: text(task.payload),
}
SEARCHABLE_STATES = (*LIST_STATES, *ZSET_STATES)
AGGREGATING = "aggregating"  # a ZSET per group: searched one group at a time
Container = tuple[str, str, bool]  # (queue, key of the LIST or ZSET, whether a LIST)
_HMGET = b"*4\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n$3\r\nmsg\r\n$9\r\nerror_msg\r\n"


@dataclass(frozen=True)
class SearchCursor:
    """Where a search stands: the container ``index`` (queue-major, then state), the next rank
    in it, and how many IDs were read before."""

    index: int = 0
    rank: int = 0
    scanned: int = 0

    def token(self) -> str:
        return f"{self.index}.{self.rank}.{self.scanned}"

    @classmethod
    def parse(cls, token: str | None) -> SearchCursor:
        """The cursor a token names; a missing or malformed token starts from the beginning."""
        parts = (token or "").split(".")
        if len(parts) != 3 or not all(p.isdigit() and len(p) < 16 for p in parts):
            return cls()
        return cls(*(int(p) for p in parts))


@dataclass(frozen=True)
class SearchStep:
    matches: list[TaskInfo]
    cursor: SearchCursor
    total: int  # IDs in every searched container now
    done: bool


class TaskText:
    """The case-insensitive test of one field (or several, see ``TESTED``): the one text-matching
    rule for tasks, used by the search, the queue page's filter and the API's ``q``."""

    def __init__(self, needle: str, field: str) -> None:
        if field not in TESTED:
            raise ValueError(f"unknown search field {field!r}")
        if not needle:
            raise ValueError("an empty needle matches everything: list the state instead")
        self.text, self.raw, self.tested = needle.lower(), needle.lower().encode(), TESTED[field]

    def candidates(self, replies: Sequence[object]) -> list[int]:
        """Positions of the ``[msg, error_msg]`` replies whose bytes contain the needle: the
        cheap test every task gets (no decoding). ``bytes.lower`` folds ASCII only, so a needle
        with other letters makes every task a candidate."""
        raw = self.raw
        if not self.text.isascii():
            return [n for n, r in enumerate(replies) if isinstance(r, list)]
        return [n for n, r in enumerate(replies) if isinstance(r, list) and (
            (r[0] and raw in r[0].lower()) or (r[1] and raw in r[1].lower()))]

    def matches(self, msg: bytes | None, hash_error: bytes | None) -> bool:
        """The exact test of a candidate: the needle is in a field asked for."""
        # 9.3: an original Go worker keeps the error in the hash, not in msg
        if hash_error and "error" in self.tested and self.text in text(hash_error).lower():
            return True
        try:
            return self.matches_task(decode_task(msg or b""))
        except MessageDecodeError:
            return False

    def matches_task(self, task: TaskInfo | TaskMessage) -> bool:
        """Whether a decoded message or a listed task has the needle in a field asked for."""
        return any(self.text in _FIELD_TEXT[name](task).lower() for name in self.tested)


def search(inspector: Inspector, queues: Sequence[str], states: Sequence[str], needle: str,
           field: str = "any", cursor: SearchCursor | None = None, *, budget: float = 0.4,
           max_matches: int = 200, group: str | None = None) -> SearchStep:
    """Tasks of ``queues`` x ``states`` whose ``field`` contains ``needle`` (case-insensitive),
    from ``cursor`` on, until ``budget`` seconds have passed or ``max_matches`` were found;
    read through the inspector's Redis client. ``aggregating`` is searched in ``group`` only."""
    test = TaskText(needle, field)
    containers = [_container(q, s, group) for q in queues for s in states]
    cursor = cursor or SearchCursor()
    client = inspector.redis
    deadline = time.monotonic() + budget
    found: list[tuple[str, str]] = []
    chunks = _chunks(client, containers, cursor)
    try:
        for begin, end, q, ids, replies in chunks:
            hits = [n for n in test.candidates(replies) if test.matches(*replies[n])]
            room = max_matches - len(found)
            if len(hits) >= room:  # stop right after the last match taken, mid-chunk
                hits = hits[:room]
                read = hits[-1] + 1 if hits else 0
                cursor = SearchCursor(begin.index, begin.rank + read, begin.scanned + read)
                found += [(q, ids[n].decode()) for n in hits]
                break
            found += [(q, ids[n].decode()) for n in hits]
            cursor = end
            if time.monotonic() >= deadline:
                break
    finally:
        chunks.close()  # reads the replies of the chunk already sent
    return SearchStep(_infos(inspector, found), cursor, _total(client, containers),
                      cursor.index >= len(containers))


def _chunks(client: redis.Redis, containers: Sequence[Container],
            start: SearchCursor,
            ) -> Generator[tuple[SearchCursor, SearchCursor, str, list, list], None, None]:
    """(cursor at the chunk, cursor after it, queue, task IDs, their [msg, error_msg] replies)
    chunk by chunk. Each chunk's reads are sent before the previous chunk is handed out, so
    Redis works while the caller matches."""
    index, rank, scanned = start.index, start.rank, start.scanned
    if index >= len(containers):
        return
    pipe = RawPipeline(client)
    _queue_ids(pipe, containers[index], rank)
    ids = _id_list(pipe.execute()[0])
    pipe = _send_chunk(client, containers, index, rank, ids)
    try:
        while pipe is not None:
            replies = pipe.execute()
            pipe = None
            q, chunk_ids = containers[index][0], ids
            begin = SearchCursor(index, rank, scanned)
            rank, scanned = rank + len(ids), scanned + len(ids)
            if len(ids) < CHUNK:  # the container is done: the next one's first IDs came too
                index, rank = index + 1, 0
            if index < len(containers):
                ids = _id_list(replies[-1])
                pipe = _send_chunk(client, containers, index, rank, ids)
            yield begin, SearchCursor(index, rank, scanned), q, chunk_ids, replies[:len(chunk_ids)]
    finally:
        if pipe is not None:
            pipe.execute()


def _send_chunk(client: redis.Redis, containers: Sequence[Container], index: int,
                rank: int, ids: list[bytes]) -> RawPipeline:
    """Send HMGET msg error_msg of ``ids`` and the IDs that come after them (those of the next
    container when ``ids`` end this one)."""
    prefix = keys.task_key_prefix(containers[index][0]).encode()
    command = _HMGET.replace(b"%s", prefix.replace(b"%", b"%%") + b"%s")
    length = len(prefix)
    pipe = RawPipeline(client)
    pipe.packed(b"".join([command % (length + len(i), i) for i in ids]), len(ids))
    if len(ids) == CHUNK:
        _queue_ids(pipe, containers[index], rank + CHUNK)
    elif index + 1 < len(containers):
        _queue_ids(pipe, containers[index + 1], 0)
    pipe.flush()
    return pipe


def _id_list(reply: object) -> list[bytes]:
    return reply if isinstance(reply, list) else []


def _container(q: str, state: str, group: str | None) -> Container:
    if state == AGGREGATING and group is not None:
        return q, keys.group(q, group), False
    if state not in SEARCHABLE_STATES:
        raise ValueError(f"cannot search state {state!r}" + (
            " without a group" if state == AGGREGATING else ""))
    return q, keys.state_container(q, state), state in LIST_STATES


def _queue_ids(pipe: RawPipeline, container: Container, rank: int) -> None:
    _, key, is_list = container
    pipe.command("LRANGE" if is_list else "ZREVRANGE", key, rank, rank + CHUNK - 1)


def _infos(inspector: Inspector, found: Sequence[tuple[str, str]]) -> list[TaskInfo]:
    infos = []
    for q, task_id in found:
        try:
            infos.append(inspector.get_task(q, task_id))
        except TaskNotFoundError:  # gone since it was read
            continue
    return infos


def _total(client: redis.Redis, containers: Sequence[Container]) -> int:
    pipe = RawPipeline(client)
    for _, key, is_list in containers:
        pipe.command("LLEN" if is_list else "ZCARD", key)
    return sum(r for r in pipe.execute() if isinstance(r, int))
