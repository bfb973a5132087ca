"""The operator CLI as a user runs it: the installed `runqy` script in a subprocess, against one
real `runqy serve` per module (embedded Redis, SQLite) whose instance folder local mode uses."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.server.serve_process import CONFIG_PREFIXES, ServeProcess

RUNQY = shutil.which("runqy", path=str(Path(sys.executable).parent)) or "runqy"
VAULT_KEY = base64.b64encode(bytes(range(32))).decode()
QUEUES_YAML = """\
queues:
  imgs:
    description: thumbnails
    deployment: {path: /srv/code, startup_cmd: python main.py}
    sub_queues: [{name: high, priority: 5}, {name: low, priority: 1}]
"""


@dataclass
class Instance:
    """A running server, its folder (the instance lives in `folder/instance`) and admin key."""

    folder: Path
    server: ServeProcess
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    def env(self, **extra: str) -> dict[str, str]:
        """No configuration but the folder's .env; HOME (saved logins) inside the folder."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(CONFIG_PREFIXES) and k not in ("XDG_CONFIG_HOME", "COLUMNS")}
        env.update(HOME=str(self.folder / "home"), **extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RUNQY, *args], cwd=cwd or self.folder, env=env or self.env(),
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def remote(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """A command with the server and key given as flags."""
        return self.run("-s", self.url, "-k", self.key, *args, **kwargs)

    def ok(self, *args: str, local: bool = False) -> str:
        """stdout of a command that must succeed (remote with flags, or local)."""
        result = self.run(*args) if local else self.remote(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str, local: bool = False) -> Any:
        return json.loads(self.ok(*args, "-o", "json", local=local))

    def redis(self) -> redis.Redis:
        password = (self.folder / "instance" / "redis" / "password").read_text().strip()
        return redis.Redis(port=self.server.redis_port, password=password)


@pytest.fixture(scope="module")
def instance(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One server per module; a module's SERVE_ARGS are added to `runqy serve` (the folder
    holds `queues/imgs.yaml` for `--config queues`)."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "queues").mkdir()
    (folder / "queues" / "imgs.yaml").write_text(QUEUES_YAML)
    server = ServeProcess(RUNQY, folder, args=getattr(request.module, "SERVE_ARGS", ()))
    # Server and local-mode CLI both read this .env from the folder, as a user's would.
    (folder / ".env").write_text(f"RUNQY_VAULT_MASTER_KEY={VAULT_KEY}\n"
                                 f"RUNQY_EMBEDDED_REDIS_PORT={server.redis_port}\n")
    (folder / "home").mkdir()
    server.start()
    key = (folder / "instance" / "admin-api-key").read_text().strip()
    yield Instance(folder, server, key)
    assert server.stop() == 0, server.output()
