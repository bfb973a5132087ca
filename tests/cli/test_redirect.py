"""The API key goes only to the server named: a redirect elsewhere does not carry it."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli.conftest import RUNQY


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str | None] = []
    target = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.target:  # the named server: sends the client elsewhere
            self.send_response(302)
            self.send_header("Location", self.target + self.path)
            self.end_headers()
            return
        type(self).seen.append(self.headers.get("Authorization"))
        body = json.dumps({"queues": [], "count": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture()
def servers() -> Iterator[tuple[str, type[_Recorder]]]:
    elsewhere_handler = type("Elsewhere", (_Recorder,), {"seen": [], "target": ""})
    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), elsewhere_handler)
    named_handler = type("Named", (_Recorder,), {
        "seen": [], "target": f"http://127.0.0.1:{elsewhere.server_address[1]}"})
    named = ThreadingHTTPServer(("127.0.0.1", 0), named_handler)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (elsewhere, named)]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{named.server_address[1]}", elsewhere_handler
    for server in (named, elsewhere):
        server.shutdown()
        server.server_close()


def test_a_redirect_does_not_carry_the_key(servers):
    url, elsewhere = servers
    result = subprocess.run([RUNQY, "-s", url, "-k", "secret-key-0123456789", "queue", "list"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No queues found.\n"
    assert elsewhere.seen == [None]
