"""The raw RESP pipeline behind the broker's hot paths (bulk enqueue, task completion).

redis-py's ``Pipeline`` spends tens of microseconds per command queuing, packing and parsing
through its generic machinery. ``RawPipeline`` packs commands straight into RESP bytes (hiredis
or pre-formatted bytes), writes them on one pooled connection as soon as the caller flushes (so
Redis executes a chunk while Python prepares the next one), and reads every reply once at the
end: N commands, one wait.

Replies come back in command order, each being the reply, a ``redis.ResponseError`` (error
reply) or, when the connection was lost before that reply arrived, the ``redis.ConnectionError``
that ended the batch: the caller then knows exactly which commands have an unknown fate.
"""

from __future__ import annotations

import weakref
from typing import Any

import hiredis
import redis
from redis.exceptions import NoScriptError

from runqy.broker.scripts import SCRIPTS, KeysOrArgs, run

# Scripts known to be loaded, per connection pool (one Redis server). A batch must never meet
# NOSCRIPT halfway: the commands after the failed call still run, so a later script that
# depends on the earlier one's effect (complete: set_result, then markAsComplete) would see the
# task without it, and the re-run after loading comes too late (the result write found the
# task already completed). Loading every script a batch uses before sending it prevents that;
# only a Redis restart in the middle of a batch can still cause it.
_LOADED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

# Unanswered commands of a batch whose connection failed carry this error.
LOST_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


class RawPipeline:
    """Commands packed into RESP, written chunk by chunk, replies read once at the end.

    Not thread-safe; one instance per batch. A script call answered NOSCRIPT wrote nothing, so
    it is re-run directly after loading the script (the effect of exactly one call).
    """

    def __init__(self, client: redis.Redis, connection: Any = None) -> None:
        """``connection``: a connection the caller keeps (no pool checkout per batch); by
        default one is taken from the client's pool and given back after ``execute``."""
        self._client = client
        self._own = connection
        self._conn: Any = None
        self._buffer: list[bytes] = []
        self._count = 0
        self._scripts: dict[int, tuple[str, KeysOrArgs, KeysOrArgs]] = {}
        self._lost: BaseException | None = None

    def __len__(self) -> int:
        return self._count

    def command(self, *parts: str | bytes | int) -> int:
        """Queue one command; returns its position in ``execute()``'s reply list."""
        self._buffer.append(hiredis.pack_command(parts))
        self._count += 1
        return self._count - 1

    def packed(self, data: bytes, count: int) -> int:
        """Queue ``count`` commands already packed as RESP; returns the first one's position."""
        if count:
            self._buffer.append(data)
            self._count += count
        return self._count - count

    def script(self, name: str, keys: KeysOrArgs, args: KeysOrArgs) -> int:
        """Queue an EVALSHA of one of ``lua/``'s scripts; returns its reply position."""
        position = self.command("EVALSHA", SCRIPTS[name].sha, len(keys), *keys, *args)
        self._scripts[position] = (name, keys, args)
        return position

    def flush(self) -> None:
        """Write what is queued so far; Redis starts on it while the caller prepares more.

        Taking the connection raises ``redis.ConnectionError`` as usual (nothing was sent); a
        failure after that ends the sending, and ``execute`` still collects every reply that
        arrived before it.
        """
        if not self._buffer or self._lost is not None:
            return
        if self._conn is None and self._own is not None:
            if self._own._sock is None:
                self._own.connect()  # after a loss; raises as a pool checkout would
            self._conn = self._own
        elif self._conn is None:
            self._conn = self._client.connection_pool.get_connection()
        self._load_scripts(self._conn)
        data, self._buffer = b"".join(self._buffer), []
        try:
            self._conn._sock.sendall(data)
        except LOST_ERRORS as exc:
            self._lost = exc

    def _load_scripts(self, conn: Any) -> None:
        """SCRIPT LOAD, once per Redis, the scripts this batch calls that it may not know
        (on the batch's own connection, before any of the batch is sent)."""
        loaded = _LOADED.setdefault(self._client.connection_pool, set())
        for name in {name for name, _, _ in self._scripts.values()} - loaded:
            conn.send_command("SCRIPT", "LOAD", SCRIPTS[name].source)
            conn.read_response()
            loaded.add(name)

    def execute(self) -> list[Any]:
        """Send the rest, then read every reply (see the module docstring for their forms)."""
        self.flush()
        replies: list[Any] = []
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                self._read(conn._sock, replies)
            finally:
                if len(replies) < self._count:
                    conn.disconnect()
                if conn is not self._own:
                    self._client.connection_pool.release(conn)
        if len(replies) < self._count:
            lost = self._lost
            if not isinstance(lost, redis.ConnectionError):
                lost = redis.ConnectionError(f"connection lost mid-batch: {lost}")
            replies.extend([lost] * (self._count - len(replies)))
        for position, (name, keys, args) in self._scripts.items():
            if isinstance(replies[position], NoScriptError):
                _LOADED.pop(self._client.connection_pool, None)  # restarted or flushed
                replies[position] = _rerun(self._client, name, keys, args)
        return replies

    def _read(self, sock: Any, replies: list[Any]) -> None:
        """Parse the replies in C, many per socket read, straight from the connection's socket.

        The pool hands out connections with nothing left unread, and this batch's replies are
        all that arrives, so redis-py's own parser state is untouched. Reading goes on after a
        failed send: the replies to what did reach Redis are still owed.
        """
        reader = hiredis.Reader(notEnoughData=_MORE)
        chunk = bytearray(_READ_SIZE)
        try:
            while len(replies) < self._count:
                size = sock.recv_into(chunk)
                if not size:
                    raise redis.ConnectionError("Redis closed the connection mid-batch")
                reader.feed(chunk, 0, size)
                reply = reader.gets(False)
                while reply is not _MORE:
                    if isinstance(reply, hiredis.ReplyError):
                        reply = _error(reply)
                    replies.append(reply)
                    reply = reader.gets(False)
        except LOST_ERRORS as exc:
            self._lost = self._lost or exc


_MORE = object()  # hiredis' "no complete reply buffered yet"
_READ_SIZE = 256 * 1024


def _error(reply: hiredis.ReplyError) -> redis.ResponseError:
    text = str(reply)
    return NoScriptError(text) if text.startswith("NOSCRIPT") else redis.ResponseError(text)


def _rerun(client: redis.Redis, name: str, keys: KeysOrArgs, args: KeysOrArgs) -> Any:
    try:
        return run(client, name, keys, args)
    except redis.ResponseError as exc:
        return exc
    except LOST_ERRORS as exc:
        return exc if isinstance(exc, redis.ConnectionError) else redis.ConnectionError(str(exc))
