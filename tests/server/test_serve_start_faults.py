"""Start-up faults of `runqy serve`: one line and exit status 1, nothing started twice."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.serve_process import ServeProcess
from tests.support.redis_server import free_port

RUNQY = str(Path(sys.executable).parent / "runqy")


@pytest.fixture()
def folder(tmp_path):
    if not Path(RUNQY).exists():
        pytest.skip("the runqy console script is not installed in this interpreter")
    path = tmp_path / "empty"
    path.mkdir()
    return path


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_second_server_on_the_same_instance_refuses_before_starting_redis(folder):
    first = ServeProcess(RUNQY, folder).start()
    try:
        second = ServeProcess(RUNQY, folder)  # its own HTTP and embedded Redis ports
        result = subprocess.run([RUNQY, "serve"], cwd=folder, env=second.env(),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            f"Error: another runqy serve (pid {first.process.pid}) is already using the "
            f"instance folder {folder / 'instance'}"], result.stderr
        assert not _listening(second.redis_port)
        assert first.request("GET", "/health")[0] == 200
    finally:
        assert first.stop() == 0, first.output()
    # The lock ends with its holder: the folder serves again.
    again = ServeProcess(RUNQY, folder).start()
    assert again.stop() == 0, again.output()


def test_a_busy_http_port_is_one_line_exit_1_and_no_banner(folder):
    squatter = socket.create_server(("127.0.0.1", free_port()))
    port = squatter.getsockname()[1]
    try:
        proc = ServeProcess(RUNQY, folder)
        env = {**proc.env(), "PORT": str(port)}
        result = subprocess.run([RUNQY, "serve", "--host", "127.0.0.1"], cwd=folder, env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        squatter.close()
    assert result.returncode == 1, result
    assert "listening on" not in result.stdout, result.stdout
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use"], result.stderr
    assert not _listening(proc.redis_port)


def test_the_banner_prints_the_setup_token_while_no_admin_exists(folder):
    server = ServeProcess(RUNQY, folder).start()
    try:
        token_file = folder / "instance" / "setup-token"
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert f"/monitoring/setup?token={token}" in server.output()
        assert str(token_file) in server.output()
    finally:
        assert server.stop() == 0, server.output()
