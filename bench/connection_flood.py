"""/health and POST /queue/add latency while one client holds idle and half-sent connections.

Serves one runqy app twice in this process, interleaved: through `runqy serve`'s waitress
set-up (runqy.web.serving.make_server) and, as the peer, through waitress with its default
options (what `waitress-serve` or a plain `create_server` gives). For each: N requests of
each kind with no flood, then the same while `--held` connections from 127.0.0.2 (half of them
half-sent requests) are open. A request counts as failed when it gets no answer within
`--timeout` seconds. Loopback only; starts its own redis-server.

    python bench/connection_flood.py --held 1100 --requests 200
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import waitress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runqy.config import Settings  # noqa: E402
from runqy.web import create_app, serving  # noqa: E402
from tests.server.conftest import ADMIN, ADMIN_KEY, CLIENT, CLIENT_KEY, deployment  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.waitress_thread import ServingThread  # noqa: E402

HALF_SENT = b"POST /queue/add HTTP/1.1\r\nHost: runqy\r\nContent-Le"
ADD = json.dumps({"queue": "imgs", "data": {"n": 1}})


def timed(port: int, method: str, path: str, timeout: float) -> float | None:
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {**CLIENT, "Content-Type": "application/json"} if method == "POST" else {}
        conn.request(method, path, ADD if method == "POST" else None, headers)
        conn.getresponse().read()
        conn.close()
    except OSError:
        return None
    return (time.perf_counter() - started) * 1000


def measure(port: int, requests: int, timeout: float) -> dict[str, str]:
    row = {}
    for method, path in (("GET", "/health"), ("POST", "/queue/add")):
        cpu = time.process_time()
        times = [timed(port, method, path, timeout) for _ in range(requests)]
        cpu_ms = (time.process_time() - cpu) * 1000 / requests
        ok = sorted(t for t in times if t is not None)
        failed = len(times) - len(ok)
        if ok:
            row[f"{method} {path}"] = (f"median {statistics.median(ok):.1f} ms, p99 "
                                       f"{ok[max(0, int(len(ok) * 0.99) - 1)]:.1f} ms, max "
                                       f"{ok[-1]:.0f} ms, {failed} failed, {cpu_ms:.2f} ms CPU")
        else:
            row[f"{method} {path}"] = f"all {failed} failed"
    return row


def flood(port: int, held: int) -> list[socket.socket]:
    sockets = []
    for n in range(held):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2,
                                            source_address=("127.0.0.2", 0))
            if n % 2:
                sock.sendall(HALF_SENT)
        except OSError:
            break  # the peer stopped accepting: the backlog is full
        sockets.append(sock)
    time.sleep(1)  # let the server accept what it will
    return sockets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--held", type=int, default=1100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    serving.raise_descriptor_limit()
    redis = RedisServer().start()
    folder = Path(tempfile.mkdtemp())
    try:
        app = create_app(Settings(instance_path=folder, redis_url=redis.url, api_key=ADMIN_KEY,
                                  client_api_key=CLIENT_KEY, threads=8))
        app.test_client().post("/api/queue-configs", headers=ADMIN,
                               json={"name": "imgs", "deployment": deployment()})
        settings = app.config["RUNQY_SETTINGS"]
        print(f"load average {os.getloadavg()[0]:.1f}, {args.held} held connections")
        for label, server in (
                ("runqy serve", serving.make_server(app, settings, host="127.0.0.1", port=0)),
                ("waitress defaults", waitress.create_server(app, host="127.0.0.1", port=0,
                                                             threads=8))):
            running = ServingThread(server)
            try:
                print(f"{label}, idle: {measure(running.port, args.requests, args.timeout)}")
                held = flood(running.port, args.held)
                print(f"{label}, {len(held)} held: "
                      f"{measure(running.port, args.requests, args.timeout)}")
                for sock in held:
                    sock.close()
            finally:
                running.stop()
    finally:
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
