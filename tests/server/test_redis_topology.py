"""Redis topology settings: one node, Sentinel and Cluster, as URLs and as separate variables."""

from __future__ import annotations

import pytest

from runqy.config import ConfigError, Settings, mask_url_password
from runqy.core.workers import redis_block
from runqy.redis_connection import CLUSTER, SENTINEL, SINGLE, RedisTopology


def load(**environ: str) -> Settings:
    return Settings.load(environ=environ, dotenv_path=None)


def test_the_single_node_default_is_unchanged():
    settings = load(REDIS_HOST="db.local", REDIS_PASSWORD="s3cret")
    assert settings.redis_topology().kind == SINGLE
    assert settings.redis_connection_url() == "redis://:s3cret@db.local:6379/0"


def test_asynq_sentinel_uri_names_the_sentinels_master_and_db():
    settings = load(REDIS_URL="redis-sentinel://:sentpw@s1:5000,s2/3?master=main",
                    REDIS_PASSWORD="datapw")
    topology = settings.redis_topology()
    assert (topology.kind, topology.nodes, topology.master, topology.db) == (
        SENTINEL, (("s1", 5000), ("s2", 26379)), "main", 3)
    assert (topology.sentinel_password, topology.password) == ("sentpw", "datapw")
    # the URL handed to workers carries everything, so they build the same client
    assert RedisTopology.from_url(settings.redis_connection_url()) == topology


def test_sentinel_and_cluster_variables():
    sentinel = load(REDIS_SENTINELS="a:1,b:2", REDIS_SENTINEL_MASTER="m",
                    REDIS_SENTINEL_PASSWORD="sp", REDIS_TLS="true").redis_topology()
    assert (sentinel.kind, sentinel.nodes, sentinel.sentinel_password, sentinel.tls) == (
        SENTINEL, (("a", 1), ("b", 2)), "sp", True)
    cluster = load(REDIS_CLUSTER_NODES="n1:7000, n2:7001", REDIS_PASSWORD="pw")
    assert cluster.redis_topology() == RedisTopology(
        CLUSTER, nodes=(("n1", 7000), ("n2", 7001)), password="pw")
    assert RedisTopology.from_url(cluster.redis_connection_url()) == cluster.redis_topology()
    assert cluster.redis_configured and not cluster.wants_embedded_redis


@pytest.mark.parametrize("environ", [
    {"REDIS_SENTINELS": "a:1"},  # no master name
    {"REDIS_URL": "redis-sentinel://a:1/0"},
    {"REDIS_CLUSTER_NODES": "host:port"},
    {"RUNQY_REDIS_WAIT_REPLICAS": "-1"},
])
def test_incomplete_topologies_stop_start_up(environ):
    with pytest.raises(ConfigError):
        load(**environ)


def test_passwords_are_masked_in_every_url_form():
    for url in ("redis-sentinel://:sentpw@a:1,b:2/0?master=m&password=datapw",
                "redis-cluster://:pw@a:1,b:2", "redis://:pw@h:1/0"):
        masked = mask_url_password(url)
        assert "pw" not in masked.replace("****", ""), masked


def test_workers_are_handed_the_whole_topology_at_registration():
    url = load(REDIS_SENTINELS="s1:5000,s2", REDIS_SENTINEL_MASTER="main",
               REDIS_PASSWORD="pw").redis_connection_url()
    block = redis_block(url)
    assert (block["mode"], block["addr"], block["master"], block["password"]) == (
        "sentinel", "s1:5000,s2:26379", "main", "pw")
    assert RedisTopology.from_url(block["url"]) == RedisTopology.from_url(url)
    cluster = redis_block("redis-cluster://n1:7000,n2:7001")
    assert (cluster["mode"], cluster["addr"]) == ("cluster", "n1:7000,n2:7001")
    assert "mode" not in redis_block("redis://h:6379/0")  # the one-node answer is unchanged
