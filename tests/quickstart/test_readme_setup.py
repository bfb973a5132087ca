"""The README's set-up commands, run as written on a Python that refuses global installs.

Debian and Ubuntu mark their system Python EXTERNALLY-MANAGED (PEP 668), so a bare
`pip install .` fails there. The test builds such a Python in tmp (the running interpreter's
binary with its standard library linked in, plus the marker), checks that it refuses a global
install, then runs the README's first command in a copy of the checkout and asks /health.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.health import answers_health
from tests.support.polling import poll_until
from tests.support.processes import running
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
MARKER = "EXTERNALLY-MANAGED"


def readme_setup_commands() -> list[str]:
    """The shell lines of the code blocks under the README's "Set up" heading."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```bash\n(.*?)```", section, re.S)
            for line in block.splitlines() if line.strip() and not line.startswith("#")]


def externally_managed_python(where: Path) -> Path:
    """A copy of this interpreter whose stdlib directory carries the PEP 668 marker."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    lib = where / "lib" / stdlib.name
    lib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        (lib / entry.name).symlink_to(entry)
    (lib / MARKER).write_text("[externally-managed]\nError=system Python: use a venv\n")
    binary = where / "bin" / "python3"
    binary.parent.mkdir()
    shutil.copy2(Path(sys._base_executable).resolve(), binary)
    return binary


def checkout_copy(where: Path) -> Path:
    """The working tree's tracked and new files, without .venv, instance/ or deployment/."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = where / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return where


def test_readme_has_exactly_two_setup_commands():
    commands = readme_setup_commands()
    assert len(commands) == 2, commands
    assert commands[1] == "bash scripts/test.sh"


@pytest.mark.timeout(240)
def test_readme_first_command_serves_on_an_externally_managed_python(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the checkout")
    python = externally_managed_python(tmp_path / "python")
    env = {"PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": os.environ.get("HOME", str(tmp_path)), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for name in ("PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_FIND_LINKS", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    refused = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", str(ROOT)],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr

    checkout = checkout_copy(tmp_path / "runqy")
    for git in (["init", "-q"], ["add", "-A"]):  # so git status shows what the command leaves
        subprocess.run(["git", *git], cwd=checkout, check=True, capture_output=True)
    port = free_port()
    env.update(PORT=str(port), RUNQY_EMBEDDED_REDIS_PORT=str(free_port()))
    serving = subprocess.Popen(["bash", "-c", readme_setup_commands()[0]], cwd=checkout,
                               env=env, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    redis_pid_file = checkout / "instance" / "redis" / "redis.pid"
    try:
        poll_until(lambda: answers_health(port), timeout=200, interval=0.5,
                   what="/health of the README's server",
                   alive=serving)
        redis_pid = int(redis_pid_file.read_text())
        os.killpg(serving.pid, signal.SIGINT)  # the user's Ctrl-C
        try:
            serving.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("the README's server ignored Ctrl-C")
        # A clean stop SHUTDOWNs the embedded Redis (its own session: Ctrl-C does not reach it).
        poll_until(lambda: not running(redis_pid), timeout=10, what="the embedded Redis to stop")
    finally:
        _kill_leftovers(serving, redis_pid_file)
    assert (checkout / ".venv" / "bin" / "runqy").exists()
    assert (checkout / "instance").is_dir()
    venv = checkout / "deployment" / "hello" / "pyvenv.cfg"  # as the quick start worker makes
    venv.parent.mkdir(parents=True)
    venv.write_text("home = /usr/bin\n")
    left = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                          cwd=checkout, check=True, capture_output=True, text=True).stdout
    assert [line for line in left.splitlines() if not line.startswith("A ")] == []


def _kill_leftovers(serving: subprocess.Popen[str], redis_pid_file: Path) -> None:
    """After a failure: nothing the README's command started outlives the test."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(serving.pid, signal.SIGKILL)
    serving.wait()
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(redis_pid_file.read_text()), signal.SIGKILL)
