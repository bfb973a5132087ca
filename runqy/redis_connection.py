"""The one place that turns Redis settings into a client: one node, Sentinel, or Cluster.

A topology is written as one URL, so the server can hand it to workers at registration and
every process builds the same client from it:

- ``redis://`` / ``rediss://``: one node (redis-py's own URL form).
- ``redis-sentinel://[:sentinel_password@]host1[:port][,host2[:port]...]/[db]?master=NAME``:
  asynq's URI form (the password in it is the sentinels'); the query may add ``password=``
  (the data nodes' password) and ``tls=true``.
- ``redis-cluster://[:password@]host1[:port][,host2[:port]...]?tls=true``: any subset of the
  cluster's nodes; the others are discovered.

Sentinel clients re-discover the master whenever a connection is made, and redis-py turns a
``READONLY`` answer into a reconnection; the raw pipeline does the same for its own replies
(``runqy.broker.pipeline``). Cluster clients follow MOVED/ASK and refresh the slot map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

SINGLE, SENTINEL, CLUSTER = "single", "sentinel", "cluster"
SENTINEL_SCHEME, CLUSTER_SCHEME = "redis-sentinel", "redis-cluster"
DEFAULT_SENTINEL_PORT, DEFAULT_PORT = 26379, 6379

RedisClient = redis.Redis | RedisCluster


@dataclass(frozen=True)
class RedisTopology:
    """Where Redis is: ``kind`` is single, sentinel or cluster."""

    kind: str
    url: str = ""  # single: the redis:// URL as given
    nodes: tuple[tuple[str, int], ...] = ()  # sentinels, or cluster start-up nodes
    master: str = ""  # sentinel: the monitored master's name
    password: str = ""  # the data nodes' password
    sentinel_password: str = ""
    db: int = 0
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> RedisTopology:
        """Parse one of the three URL forms; ValueError names what is wrong (never the URL)."""
        scheme, _, rest = url.partition("://")
        if scheme not in (SENTINEL_SCHEME, CLUSTER_SCHEME):
            return cls(SINGLE, url=url)
        parts = urlsplit(f"x://{rest}")  # the netloc holds a host list: parse it ourselves
        auth, _, hosts = parts.netloc.rpartition("@")
        secret = unquote(auth.partition(":")[2]) if auth else ""
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        tls = query.get("tls", "").lower() in ("true", "1", "yes", "on")
        if scheme == SENTINEL_SCHEME:
            if not query.get("master"):
                raise ValueError("a redis-sentinel:// URL needs ?master=NAME")
            db_text = parts.path.strip("/") or "0"
            if not db_text.isdigit():
                raise ValueError("the database of a redis-sentinel:// URL must be a number")
            return cls(SENTINEL, nodes=_addresses(hosts, DEFAULT_SENTINEL_PORT),
                       master=query["master"], password=query.get("password", ""),
                       sentinel_password=secret, db=int(db_text), tls=tls)
        return cls(CLUSTER, nodes=_addresses(hosts, DEFAULT_PORT), password=secret, tls=tls)

    @classmethod
    def sentinel(cls, sentinels: str, master: str, *, password: str = "",
                 sentinel_password: str = "", db: int = 0, tls: bool = False) -> RedisTopology:
        """From ``REDIS_SENTINELS`` (host:port,...) and ``REDIS_SENTINEL_MASTER``."""
        if not master:
            raise ValueError("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER")
        return cls(SENTINEL, nodes=_addresses(sentinels, DEFAULT_SENTINEL_PORT), master=master,
                   password=password, sentinel_password=sentinel_password, db=db, tls=tls)

    @classmethod
    def cluster(cls, nodes: str, *, password: str = "", tls: bool = False) -> RedisTopology:
        """From ``REDIS_CLUSTER_NODES`` (host:port,...)."""
        return cls(CLUSTER, nodes=_addresses(nodes, DEFAULT_PORT), password=password, tls=tls)

    def to_url(self) -> str:
        """The URL form, from which ``from_url`` builds the same topology (registration)."""
        if self.kind == SINGLE:
            return self.url
        hosts = ",".join(f"{h}:{p}" for h, p in self.nodes)
        query: dict[str, str] = {"tls": "true"} if self.tls else {}
        if self.kind == CLUSTER:
            auth = f":{quote(self.password, safe='')}@" if self.password else ""
            tail = f"?{urlencode(query)}" if query else ""
            return f"{CLUSTER_SCHEME}://{auth}{hosts}{tail}"
        auth = f":{quote(self.sentinel_password, safe='')}@" if self.sentinel_password else ""
        query = {"master": self.master, **({"password": self.password} if self.password else {}),
                 **query}
        return f"{SENTINEL_SCHEME}://{auth}{hosts}/{self.db}?{urlencode(query)}"

    def display(self) -> str:
        """A description without secrets, for banners (never for error bodies)."""
        if self.kind == SINGLE:
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname}:{parts.port or DEFAULT_PORT}{parts.path}"
        hosts = ",".join(f"{h}:{p}" for h, p in self.nodes)
        if self.kind == CLUSTER:
            return f"Redis Cluster via {hosts}"
        return f"Sentinel master '{self.master}' via {hosts}"

    def client(self, *, socket_timeout: float, socket_connect_timeout: float,
               max_connections: int | None = None, health_check_interval: int = 0) -> RedisClient:
        """A client for this topology (binary replies: ``decode_responses`` stays off)."""
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout,
            "health_check_interval": health_check_interval,
        }
        if self.kind == SINGLE:
            pool = redis.ConnectionPool.from_url(self.url, max_connections=max_connections,
                                                 **options)
            return redis.Redis(connection_pool=pool)
        secure = {"ssl": True} if self.tls else {}
        if self.kind == CLUSTER:
            return RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in self.nodes],
                password=self.password or None, max_connections=max_connections or 2**31,
                **secure, **options)
        sentinel = Sentinel(
            list(self.nodes), sentinel_kwargs={
                "password": self.sentinel_password or None,
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_connect_timeout, **secure},
        )
        return sentinel.master_for(self.master, db=self.db, password=self.password or None,
                                   max_connections=max_connections, **secure, **options)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


def connect(url: str, **options: Any) -> RedisClient:
    """``RedisTopology.from_url(url).client(**options)``."""
    return RedisTopology.from_url(url).client(**options)


def _addresses(text: str, default_port: int) -> tuple[tuple[str, int], ...]:
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, str(default_port)
        if not host or not port.isdigit():
            raise ValueError(f"{item!r} is not host:port")
        found.append((host, int(port)))
    if not found:
        raise ValueError("no Redis address given")
    return tuple(found)
