"""`runqy --help` names every command of the issue's table, with its arguments and flags."""

from __future__ import annotations

import subprocess

from tests.cli.conftest import RUNQY

# The rows of issue 10's table, as a user types them.
COMMANDS = """
login URL [--name NAME] [-k KEY]
logout [NAME]
auth list
auth use NAME
auth status [--show-key]
queue list
queue inspect QUEUE
queue pause QUEUE
queue unpause QUEUE
queue delete QUEUE [--force]
task enqueue -q QUEUE [-p JSON] [-t SECONDS] [--file PATH]
task list QUEUE [--state STATE] [-l LIMIT]
task get QUEUE ID
task cancel ID
task delete QUEUE ID
task run QUEUE ID
task archive QUEUE ID
task wait ID [--timeout SECONDS]
worker list
worker info ID
config list
config get NAME
config validate FILE|DIR
config create -f FILE
config remove NAME
config reload
vault list
vault create NAME
vault delete NAME
vault set NAME KEY VALUE [--plain]
vault get NAME KEY
vault unset NAME KEY
vault entries NAME
completion SHELL
serve
"""
GLOBAL_FLAGS = ("-s, --server URL", "-k, --api-key KEY", "--redis-uri URI", "-v, --version",
                "-o, --output [table|json]")


def test_every_command_and_global_flag_is_in_runqy_help():
    result = subprocess.run([RUNQY, "--help"], capture_output=True, text=True, timeout=60,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    listed = [line.strip() for line in result.stdout.splitlines()]
    for row in COMMANDS.strip().splitlines():
        assert any(line.startswith(f"runqy {row}") for line in listed), row
    for flag in GLOBAL_FLAGS:
        assert flag in result.stdout, flag
    assert "`runqy` alone runs `serve`" in result.stdout


def test_version_and_completion_scripts():
    version = subprocess.run([RUNQY, "-v"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("runqy, version ")
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "#compdef runqy"),
                          ("fish", "complete --no-files --command runqy")):
        script = subprocess.run([RUNQY, "completion", shell], capture_output=True, text=True,
                                timeout=60)
        assert script.returncode == 0 and marker in script.stdout, (shell, script.stdout[:200])
    bad = subprocess.run([RUNQY, "completion", "tcsh"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "tcsh" in bad.stderr


def test_local_mode_without_an_instance_says_what_to_do(tmp_path):
    result = subprocess.run([RUNQY, "queue", "list"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no runqy instance at {tmp_path.resolve()}/instance (no runqy.db): start "
        "`runqy serve` there once, set RUNQY_INSTANCE_PATH, or give a server with -s URL or "
        "`runqy login`\n")
