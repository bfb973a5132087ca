"""The speed-ups that lean on library internals still find what they lean on.

Each measured speed-up (bench/README.md) uses something a library does not promise: Flask
routing every call through `app.ensure_sync` (runqy.web.flask_sync_cache), the attributes of
waitress's HTTPChannel (runqy.web.waitress_flush), waitress's requests, tasks and servers
(runqy.web.waitress_lane), redis-py's connection sockets and pool
methods (runqy.broker.pipeline). pyproject.toml pins the versions; these tests fail loudly,
naming what is gone, when an upgrade inside or past the pins changes them.
"""

from __future__ import annotations

import inspect
import socket

import redis
from flask import Flask
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server
from waitress.task import Task, ThreadedTaskDispatcher

from runqy.broker.pipeline import RawPipeline
from runqy.web.flask_sync_cache import RunqyFlask
from runqy.web.serving import RunqyChannel, make_server
from tests.support.polling import poll_until
from tests.support.waitress_thread import ServingThread


def test_flask_dispatches_views_and_hooks_through_ensure_sync():
    app = RunqyFlask("internals")
    calls: list[str] = []

    @app.before_request
    def hook() -> None:
        calls.append("hook")

    @app.get("/")
    def view() -> str:
        calls.append("view")
        return "ok"

    client = app.test_client()
    for _ in range(2):
        assert client.get("/").text == "ok"
    assert calls == ["hook", "view"] * 2
    # Both went through the cache: Flask still asks ensure_sync, so the speed-up applies.
    assert {hook, view} <= set(app._sync_functions), (
        "Flask no longer calls app.ensure_sync for views and hooks: "
        "runqy.web.flask_sync_cache does nothing; re-measure and drop it")


def test_waitress_channel_keeps_the_attributes_runqy_channel_reads(app: Flask):
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"],
                                        host="127.0.0.1", port=0))
    try:
        with socket.create_connection(("127.0.0.1", serving.port), timeout=5) as conn:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers not finished
            # The channel exists once accepted; its partial request once the bytes are read.
            channels = poll_until(
                lambda: [ch for ch in list(serving.server.active_channels.values())
                         if getattr(ch, "request", None) is not None],
                timeout=5, what="a channel holding the half-sent request")
            channel = channels[0]
            assert isinstance(channel, RunqyChannel)
            missing = [name for name in ("total_outbufs_len", "requests", "request",
                                         "will_close", "close_when_flushed", "creation_time",
                                         "last_activity", "requests_lock")
                       if not hasattr(channel, name)]
            assert not missing, (f"waitress's HTTPChannel lost {missing}: runqy.web."
                                 "waitress_flush and RunqyChannel read them")
            assert isinstance(channel.total_outbufs_len, int)
            assert channel.request is not None and not channel.request.headers_finished
            conn.sendall(b"\r\n")
            assert conn.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        serving.stop()


def test_redis_py_connections_expose_the_socket_raw_pipeline_writes_on(redis_client):
    pool = redis_client.connection_pool
    for name in ("get_connection", "release", "make_connection", "disconnect"):
        assert callable(getattr(pool, name, None)), f"redis-py's pool lost {name}()"
    conn = pool.get_connection()
    try:
        conn.connect()
        assert isinstance(getattr(conn, "_sock", None), socket.socket), (
            "redis-py's Connection no longer keeps its socket in _sock: "
            "runqy.broker.pipeline cannot write on it")
    finally:
        pool.release(conn)
    pool.disconnect(inuse_connections=False)
    pipe = RawPipeline(redis_client)
    pipe.command("SET", "internals:k", "v")
    pipe.command("GET", "internals:k")
    assert pipe.execute() == [b"OK", b"v"]
    assert isinstance(redis_client, redis.Redis)


def test_waitress_keeps_what_the_lean_lane_reads():
    """runqy.web.waitress_lane reads waitress's parsed requests, channels, tasks, servers and
    thread pool (its docstring lists them); its tests in test_lean_lane.py run it end to end,
    this one names what went missing."""
    adj = Adjustments()
    parser = HTTPRequestParser(adj)
    raw = (b"POST /queue/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
           b"Content-Length: 2\r\n\r\n{}")
    while raw:  # as HTTPChannel.received feeds it: the headers, then the body
        raw = raw[parser.received(raw):]
    assert parser.completed
    assert (parser.command, parser.path, parser.query, parser.error, parser.url_scheme) == (
        "POST", "/queue/add", "", None, "http")
    assert parser.headers["AUTHORIZATION"] == "Bearer k"
    assert parser.headers["CONTENT_LENGTH"] == "2"
    stream = parser.get_body_stream()
    assert stream.read(2) == b"{}" and stream.seek(0) == 0
    missing = [f"HTTPChannel.{name}" for name in ("service", "write_soon", "cancel")
               if not callable(getattr(HTTPChannel, name, None))]
    missing += [f"Task.{name}" for name in ("service", "write", "build_response_header")
                if not callable(getattr(Task, name, None))]
    missing += [f"Task.{name}" for name in ("complete", "content_length", "close_on_finish",
                                            "wrote_header")
                if not hasattr(Task, name)]
    missing += [f"ThreadedTaskDispatcher.{name}" for name in ("add_task", "shutdown",
                                                               "set_thread_count")
                if not callable(getattr(ThreadedTaskDispatcher, name, None))]
    missing += [f"BaseWSGIServer.{name}" for name in ("pull_trigger", "add_task")
                if not callable(getattr(BaseWSGIServer, name, None))]
    if "_dispatcher" not in inspect.signature(create_server).parameters:
        missing.append("create_server(_dispatcher=)")
    assert not missing, f"waitress lost {missing}: runqy.web.waitress_lane reads them"
