"""Waiting for tasks to finish without polling: the ``runqy:done:<id>`` channel.

Every runqy finishing write (complete, done, archive) publishes the task's new state on its
done channel in the round trip it makes anyway (``Broker``). ``DoneWatcher`` keeps one pub/sub
connection per process, subscribed to the channels of the tasks someone waits for, and calls
each watch's callback once: when the message arrives, when the watch's deadline passes, or when
a fallback read (every ``FALLBACK_SECONDS``, one pipelined round trip for every watched task)
finds the task finished or gone, which covers Go workers (they publish nothing) and a message
sent in the instant before the subscription took effect.

Callers subscribe first, then read the task: a finish after the subscription is announced, one
before it is seen by the read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from runqy.broker import keys

log = logging.getLogger(__name__)
FALLBACK_SECONDS = 1.0
LISTEN_SECONDS = 0.25  # longest block on the pub/sub socket between deadline checks
CLOSE_SECONDS = 5.0  # how long ``close`` waits for the listener thread to end
FINAL_STATES = frozenset({"completed", "archived"})
_LOST = (redis.ConnectionError, redis.TimeoutError, OSError)
_CHANNEL_PREFIX = keys.done_channel("")


@dataclass(eq=False)
class Watch:
    """One waiter on one task; ``queue`` is filled in once known (for the fallback read)."""

    task_id: str
    callback: Callable[[], None]
    deadline: float  # time.monotonic()
    queue: str | None = None
    fired: bool = field(default=False)


class DoneWatcher:
    """The done-channel subscriptions of one process, and the thread that fires the watches."""

    def __init__(self, client: redis.Redis, limit: int) -> None:
        self._client = client
        self.limit = limit
        self._lock = threading.Lock()
        self._watches: dict[str, list[Watch]] = {}
        self._count = 0
        self._pubsub: redis.client.PubSub | None = None
        self._thread: threading.Thread | None = None

    @property
    def count(self) -> int:
        return self._count

    def watch(self, task_id: str, callback: Callable[[], None], deadline: float) -> Watch | None:
        """Subscribe for ``task_id``; None when ``limit`` watches are open already.

        Raises ``redis.ConnectionError`` when Redis cannot be reached.
        """
        watch = Watch(task_id, callback, deadline)
        with self._lock:
            if self._count >= self.limit:
                return None
            first = task_id not in self._watches
            self._watches.setdefault(task_id, []).append(watch)
            self._count += 1
            try:
                if first:
                    self._subscriber().subscribe(keys.done_channel(task_id))
            except _LOST:
                self._remove(watch)
                raise
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Forget a watch that has not fired (idempotent)."""
        with self._lock:
            self._remove(watch)

    def _remove(self, watch: Watch) -> None:
        """Under the lock: drop the watch, and the subscription with its task's last one."""
        watching = self._watches.get(watch.task_id)
        if watching is None or watch not in watching:
            return
        watching.remove(watch)
        self._count -= 1
        if not watching:
            del self._watches[watch.task_id]
            if self._pubsub is not None:
                with contextlib.suppress(*_LOST):
                    self._pubsub.unsubscribe(keys.done_channel(watch.task_id))

    def close(self) -> None:
        """Stop the listener thread and close the pub/sub connection: the owner shuts down.
        Open watches are dropped unfired; a later ``watch`` starts afresh."""
        with self._lock:
            thread, self._thread = self._thread, None  # the thread ends at its next turn
            pubsub, self._pubsub = self._pubsub, None
            self._watches.clear()
            self._count = 0
        if thread is not None:
            thread.join(CLOSE_SECONDS)  # one stuck in a Redis call ends with the process
        if pubsub is not None:
            with contextlib.suppress(*_LOST):
                pubsub.close()

    def _subscriber(self) -> redis.client.PubSub:
        """Under the lock: the pub/sub connection, and the thread reading it."""
        if self._pubsub is None:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="done-watcher",
                                            daemon=True)
            self._thread.start()
        return self._pubsub

    # -- the listener thread ------------------------------------------------------------------

    def _listen(self) -> None:
        next_fallback = time.monotonic() + FALLBACK_SECONDS
        while self._thread is threading.current_thread():  # until ``close``
            pubsub = self._pubsub
            if pubsub is None:  # Redis was lost; the next watch connects again
                time.sleep(LISTEN_SECONDS)
            try:
                message = pubsub.get_message(timeout=LISTEN_SECONDS) if pubsub else None
                if message is not None and message.get("type") == "message":
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    task = channel.removeprefix(_CHANNEL_PREFIX)
                    self._fire(lambda w, task=task: w.task_id == task)
                now = time.monotonic()
                self._fire(lambda w, now=now: now >= w.deadline)
                if now >= next_fallback:
                    next_fallback = now + FALLBACK_SECONDS
                    self._fallback_read()
            except _LOST as exc:
                log.warning("done-channel listener lost Redis (%s); waiters re-read", exc)
                self._reconnect()
                time.sleep(LISTEN_SECONDS)
            except Exception:  # the thread must outlive any bug; waiters still time out
                log.exception("done-channel listener failed")
                time.sleep(LISTEN_SECONDS)

    def _fire(self, which: Callable[[Watch], bool]) -> None:
        with self._lock:
            due = [w for watching in self._watches.values() for w in watching if which(w)]
            for watch in due:
                watch.fired = True
                self._remove(watch)
        for watch in due:
            watch.callback()

    def _fallback_read(self) -> None:
        """One round trip for every watched task whose queue is known: fire the finished."""
        with self._lock:
            watched = {(w.queue, w.task_id) for watching in self._watches.values()
                       for w in watching if w.queue is not None}
        if not watched:
            return
        pairs = sorted(watched)  # type: ignore[arg-type]
        states = task_states(self._client, pairs)
        ended = {task_id for (_, task_id), state in zip(pairs, states, strict=True)
                 if state is None or state in FINAL_STATES}
        if ended:
            self._fire(lambda w: w.task_id in ended)

    def _reconnect(self) -> None:
        """A new pub/sub connection for the current channels; every waiter re-reads."""
        with self._lock:
            old, self._pubsub = self._pubsub, None
            channels = [keys.done_channel(t) for t in self._watches]
        if old is not None:
            with contextlib.suppress(*_LOST):
                old.close()
        with self._lock, contextlib.suppress(*_LOST):
            if self._thread is not threading.current_thread():
                return  # closed meanwhile
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            if channels:
                pubsub.subscribe(*channels)
            self._pubsub = pubsub
        self._fire(lambda w: True)


def task_states(client: redis.Redis, tasks: Sequence[tuple[str, str]]) -> list[str | None]:
    """The ``state`` of each (queue, task ID) in one round trip; None for a missing task."""
    pipe = client.pipeline(transaction=False)
    for queue, task_id in tasks:
        pipe.hget(keys.task_key(queue, task_id), "state")
    return [s.decode() if isinstance(s, bytes) else s for s in pipe.execute()]
