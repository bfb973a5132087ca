"""The raw RESP pipeline behind the broker's hot paths (bulk enqueue, task completion).

redis-py's ``Pipeline`` spends tens of microseconds per command queuing, packing and parsing
through its generic machinery. ``RawPipeline`` packs commands straight into RESP bytes (hiredis
or pre-formatted bytes), writes them on one pooled connection as soon as the caller flushes (so
Redis executes a chunk while Python prepares the next one), and reads every reply once at the
end: N commands, one wait.

Replies come back in command order, each being the reply, a ``redis.ResponseError`` (error
reply) or, when the connection was lost before that reply arrived, the ``redis.ConnectionError``
that ended the batch: the caller then knows exactly which commands have an unknown fate.

Two more answers count as lost (``redis.ConnectionError`` subclasses): ``READONLY`` (the node
was demoted by a Sentinel failover; the connection is dropped so that the next one asks the
sentinels for the new master) and, with ``confirm``, writes that ``WAIT`` did not confirm on
enough replicas in time.

On a Redis Cluster, ``ClusterRawPipeline`` gives the same interface: it splits the commands by
the node serving each key's slot, writes to every node before reading any reply (the nodes work
in parallel), puts the replies back in command order, and re-runs through redis-py the commands
answered MOVED or ASK (a resharding or failover: they were not executed).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import hiredis
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from runqy.broker.scripts import SCRIPTS, KeysOrArgs, run

# Scripts known to be loaded, per connection pool (one Redis server). A batch must never meet
# NOSCRIPT halfway: the commands after the failed call still run, so a later script that
# depends on the earlier one's effect (complete: set_result, then markAsComplete) would see the
# task without it, and the re-run after loading comes too late (the result write found the
# task already completed). Loading every script a batch uses before sending it prevents that;
# only a Redis restart in the middle of a batch can still cause it.
log = logging.getLogger(__name__)
_LOADED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

# Unanswered commands of a batch whose connection failed carry this error.
LOST_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
# Cluster answers meaning "not executed here, ask again" (redis-py follows them).
_REDIRECTS = ("MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN")


class MasterChangedError(redis.ConnectionError):
    """The node answered READONLY: it is no longer the master (the command did not run)."""


class UnconfirmedWriteError(redis.ConnectionError):
    """Written on the master, but ``WAIT`` saw too few replicas confirm it in time: a failover
    now could lose it, so its fate counts as unknown."""


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
        self._confirm: tuple[int, int] | None = None

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

    def confirm(self, replicas: int, timeout_ms: int) -> None:
        """End the batch with ``WAIT replicas timeout_ms``; when fewer replicas confirm, every
        reply becomes an ``UnconfirmedWriteError``."""
        self._confirm = (replicas, timeout_ms)

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
        self._load_scripts()
        data, self._buffer = b"".join(self._buffer), []
        try:
            self._conn._sock.sendall(data)
        except LOST_ERRORS as exc:
            self._lost = exc

    def _load_scripts(self) -> None:
        """SCRIPT LOAD, once per Redis, the scripts this batch calls that it may not know,
        before the calls are sent. On another pooled connection: this one may already carry
        commands whose replies are not read yet (a later flush brought the first script)."""
        loaded = _LOADED.setdefault(self._client.connection_pool, set())
        for name in {name for name, _, _ in self._scripts.values()} - loaded:
            self._client.script_load(SCRIPTS[name].source)
            loaded.add(name)

    def execute(self) -> list[Any]:
        """Send the rest, then read every reply (see the module docstring for their forms)."""
        waited = self._confirm is not None and self._count > 0
        if waited:
            self.command("WAIT", *self._confirm)  # type: ignore[misc]
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
            _LOADED.pop(self._client.connection_pool, None)  # maybe another server next time
        self._demoted(conn, replies)
        if waited:
            self._count -= 1
            self._unconfirmed(replies, replies.pop())
        for position, (name, keys, args) in self._scripts.items():
            if isinstance(replies[position], NoScriptError):
                _LOADED.pop(self._client.connection_pool, None)  # restarted or flushed
                replies[position] = _rerun(self._client, name, keys, args)
        return replies

    def _demoted(self, conn: Any, replies: list[Any]) -> None:
        """READONLY answers: the master was demoted. Drop this and every idle connection, so
        that the next ones ask the sentinels where the master is now; the answers are lost."""
        demoted = [i for i, r in enumerate(replies)
                   if isinstance(r, redis.ResponseError) and str(r).startswith("READONLY")]
        if not demoted:
            return
        if conn is not None:
            conn.disconnect()
        self._client.connection_pool.disconnect(inuse_connections=False)
        _LOADED.pop(self._client.connection_pool, None)
        error = MasterChangedError("the Redis master changed (READONLY); retry")
        for i in demoted:
            replies[i] = error

    def _unconfirmed(self, replies: list[Any], acked: Any) -> None:
        replicas, timeout_ms = self._confirm  # type: ignore[misc]
        if isinstance(acked, int) and acked >= replicas:
            return
        error = UnconfirmedWriteError(
            f"not confirmed by {replicas} replica(s) within {timeout_ms} ms")
        for i, reply in enumerate(replies):
            if not isinstance(reply, LOST_ERRORS):
                replies[i] = error

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


class ClusterRawPipeline:
    """``RawPipeline``'s interface on a Redis Cluster: one ``RawPipeline`` per node.

    Each command goes to the node serving its first key's slot (the script calls' keys all
    share their queue's slot). Not thread-safe; one instance per batch.
    """

    def __init__(self, client: RedisCluster, held: dict[str, Any] | None = None) -> None:
        """``held``: the caller's own connections by node name (filled as nodes are met), as
        ``RawPipeline``'s ``connection``; by default each node's pool is used."""
        self._client = client
        self._held = held
        self._nodes: dict[str, RawPipeline] = {}
        self._where: list[tuple[RawPipeline, int]] = []
        # how to run each command again after a redirect: (script name or "", parts)
        self._calls: list[tuple[str, tuple[Any, ...]]] = []
        self._confirm: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self._where)

    def _node(self, key: str | bytes | int) -> RawPipeline:
        raw = key if isinstance(key, bytes) else str(key).encode()
        node = self._client.nodes_manager.get_node_from_slot(key_slot(raw))
        pipe = self._nodes.get(node.name)
        if pipe is None:
            redis_node = self._client.get_redis_connection(node)
            connection = None
            if self._held is not None:
                connection = self._held.get(node.name)
                if connection is None:
                    connection = self._held[node.name] = (
                        redis_node.connection_pool.make_connection())
            pipe = self._nodes[node.name] = RawPipeline(redis_node, connection)
        return pipe

    def command(self, *parts: str | bytes | int) -> int:
        name = parts[0].decode() if isinstance(parts[0], bytes) else str(parts[0])
        parts = (name, *parts[1:])
        pipe = self._node(parts[3] if name.upper() in ("EVALSHA", "EVAL") else parts[1])
        self._where.append((pipe, pipe.command(*parts)))
        self._calls.append(("", parts))
        return len(self._where) - 1

    def packed(self, data: bytes, count: int) -> int:
        """Split the packed commands again (each may live on another node)."""
        first = len(self._where)
        reader = hiredis.Reader()
        reader.feed(data)
        for _ in range(count):
            self.command(*reader.gets())
        return first

    def script(self, name: str, keys: KeysOrArgs, args: KeysOrArgs) -> int:
        pipe = self._node(keys[0])
        self._where.append((pipe, pipe.script(name, keys, args)))
        self._calls.append((name, (keys, args)))
        return len(self._where) - 1

    def confirm(self, replicas: int, timeout_ms: int) -> None:
        """``WAIT`` on every node written to: each node's own replicas must confirm."""
        self._confirm = (replicas, timeout_ms)

    def flush(self) -> None:
        for pipe in self._nodes.values():
            pipe.flush()

    def execute(self) -> list[Any]:
        for pipe in self._nodes.values():
            if self._confirm is not None:
                pipe.confirm(*self._confirm)
            pipe.flush()  # every node starts before any reply is read
        answers = {id(pipe): pipe.execute() for pipe in self._nodes.values()}
        replies = [answers[id(pipe)][position] for pipe, position in self._where]
        redirected = [i for i, reply in enumerate(replies)
                      if isinstance(reply, redis.ResponseError)
                      and str(reply).startswith(_REDIRECTS)]
        if redirected or any(isinstance(r, LOST_ERRORS) for r in replies):
            self._refresh()
        for i in redirected:  # in command order: a queue's calls keep their sequence
            replies[i] = self._again(*self._calls[i])
        return replies

    def _refresh(self) -> None:
        """Reload the slot map (a failover or resharding happened); best effort."""
        try:
            self._client.nodes_manager.initialize()
        except redis.RedisError as exc:  # its text names nodes: keep addresses out of logs
            log.warning("Redis Cluster slot map not refreshed: %s", type(exc).__name__)

    def _again(self, name: str, call: tuple[Any, ...]) -> Any:
        try:
            if name:
                return run(self._client, name, *call)
            return self._client.execute_command(*call)
        except LOST_ERRORS as exc:
            return exc if isinstance(exc, redis.ConnectionError) else redis.ConnectionError(
                str(exc))
        except redis.RedisError as exc:  # an error answer, or redirections without end
            return exc if isinstance(exc, redis.ResponseError) else redis.ResponseError(str(exc))


def answered(replies: list[Any]) -> list[Any]:
    """``execute()``'s replies when every command succeeded; raises the first failure."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def raw_pipeline(client: redis.Redis | RedisCluster) -> RawPipeline | ClusterRawPipeline:
    """The raw pipeline for the client's topology (pooled connections)."""
    if isinstance(client, RedisCluster):
        return ClusterRawPipeline(client)
    return RawPipeline(client)
