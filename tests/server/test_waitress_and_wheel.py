"""A real waitress server on a free port, and the installed (non-editable) wheel serving."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import waitress

from tests.server.conftest import CLIENT, configure
from tests.server.serve_process import ServeProcess
from tests.support.polling import poll_until
from tests.support.waitress_thread import ServingThread

REPO = Path(__file__).resolve().parents[2]


def test_waitress_serves_the_api_over_keep_alive(app, live_server):
    configure(app.test_client(), "imgs")
    conn = http.client.HTTPConnection("127.0.0.1", live_server.effective_port, timeout=10)
    headers = {**CLIENT, "Content-Type": "application/json", "X-Request-ID": "req-1"}
    conn.request("POST", "/queue/add", json.dumps({"queue": "imgs", "data": {"a": 1}}), headers)
    added = conn.getresponse()
    body = json.loads(added.read())
    assert added.status == 200 and added.getheader("X-Request-ID") == "req-1"
    conn.request("GET", f"/queue/{body['info']['id']}", headers=CLIENT)
    fetched = conn.getresponse()
    assert fetched.status == 200 and json.loads(fetched.read())["info"]["payload"] == {"a": 1}
    conn.request("POST", "/queue/add", b"{not json", headers)
    bad = conn.getresponse()
    assert bad.status == 400 and json.loads(bad.read())["code"] == "invalid_json"
    conn.close()


def test_waitress_rejects_an_oversized_body_with_413(make_app):
    app = make_app(max_body_size=2048)
    configure(app.test_client(), "imgs")
    serving = ServingThread(waitress.create_server(app, host="127.0.0.1", port=0, threads=2))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", serving.port, timeout=10)
        conn.request("POST", "/queue/add",
                     json.dumps({"queue": "imgs", "data": "x" * 10_000}), CLIENT)
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == "payload_too_large"
    finally:
        serving.stop()


def test_a_test_server_stops_when_its_loop_runs_the_stop_before_the_pull_writes(app):
    """What a loaded machine does to ServingThread.stop: waitress's pull_trigger adds the stop
    thunk, then writes its byte; another thread's pull wakes the loop, which runs the thunk in
    between. The write must still find the trigger's pipe open (it once failed with EBADF)."""
    serving = ServingThread(waitress.create_server(app, host="127.0.0.1", port=0, threads=2))
    trigger = serving.server.trigger
    write = trigger._physical_pull

    def thunk_runs_first() -> None:
        if trigger.thunks:  # stop()'s pull: another puller's byte wakes the loop first
            write()
            poll_until(lambda: not trigger.thunks, timeout=5, what="the loop to run the thunk")
        write()

    trigger._physical_pull = thunk_runs_first
    serving.stop()
    assert not serving.thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", serving.port), timeout=2)

@pytest.mark.timeout(600)
def test_installed_wheel_serves_docs_static_files_and_the_api(tmp_path):
    wheels = tmp_path / "wheels"
    # No build isolation: the build uses this interpreter's setuptools, so nothing is fetched.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(REPO)], check=True, capture_output=True,
                   timeout=300)
    wheel = next(wheels.glob("runqy-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # Dependencies come from the test interpreter's site-packages (no download); the .pth
    # adds that directory without running its .pth files, so no editable runqy leaks in.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    location = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import runqy.web, os; print(runqy.web.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert location.startswith(str(venv)), location
    assert (site / "runqy" / "templates").is_dir()
    assert (site / "runqy" / "static" / "vendor" / "swagger-ui" / "LICENSE").is_file()
    folder = tmp_path / "empty"
    folder.mkdir()
    server = ServeProcess(str(venv / "bin" / "runqy"), folder).start()
    try:
        key = server.admin_key_line()
        assert server.request("GET", "/healthz")[0] == 200
        status, page = server.request("GET", "/docs")
        assert status == 200 and b"swagger-ui-bundle.js" in page
        status, js = server.request("GET", "/static/vendor/swagger-ui/swagger-ui-bundle.js")
        assert status == 200 and len(js) > 100_000
        assert server.request("POST", "/api/queue-configs", {
            "name": "imgs", "deployment": {"path": "/srv", "startup_cmd": "run"}}, key)[0] == 201
        status, body = server.request("POST", "/queue/add", {"queue": "imgs", "data": 1}, key)
        assert status == 200 and body["info"]["state"] == "pending"
        assert server.request("GET", "/monitoring/")[0] in (200, 302)
    finally:
        assert server.stop() == 0, server.output()


@pytest.mark.parametrize("size", [40_000, 3_000_000])
def test_large_answers_reach_a_slow_reader_whole(app, live_server, size):
    # Through a 4 KiB receive window the server's sends come back short, so the rest of the
    # answer waits in waitress's buffer while the task is still finishing: below and above
    # the backlog at which the main loop starts helping the task flush.
    configure(app.test_client(), "imgs")
    payload = "y" * size
    headers = {**CLIENT, "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", live_server.effective_port, timeout=30)
    conn.request("POST", "/queue/add", json.dumps({"queue": "imgs", "data": payload}), headers)
    added = conn.getresponse()
    task_id = json.loads(added.read())["info"]["id"]
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(30)
    slow.connect(("127.0.0.1", int(live_server.effective_port)))
    slow.sendall(f"GET /queue/{task_id} HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: {CLIENT['Authorization']}\r\n\r\n".encode())
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += slow.recv(4096)
    head, body = raw.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        time.sleep(0.0005)  # a reader slower than the server's writes
        chunk = slow.recv(4096)
        assert chunk, "connection closed before the whole answer arrived"
        body += chunk
    assert json.loads(body)["info"]["payload"] == payload
    # The keep-alive connection that sent the big request still answers the next one.
    conn.request("GET", f"/queue/{task_id}", headers=CLIENT)
    again = conn.getresponse()
    assert again.status == 200 and len(again.read()) == length
    slow.close()
    conn.close()
