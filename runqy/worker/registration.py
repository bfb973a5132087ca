"""`POST /worker/register` and the registration answer (worker-protocol.md 4.2, http-api.md 6).

`Registration` is what the rest of the worker consumes; tests may build one from a real
server's answer with `Registration.from_answer` and start the processor from it.
"""

from __future__ import annotations

import json
import platform
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runqy import __version__

REGISTER_TIMEOUT = 30.0
MAX_RETRY_DELAY = 60.0
_FATAL_CODES = ("vault_missing", "vaults_disabled", "vaults_unavailable")


class RegistrationError(Exception):
    """Registration failed for good; the worker exits 1 with this message."""


@dataclass(frozen=True)
class DeploymentSpec:
    """The `deployment` block of the registration answer."""

    startup_cmd: str
    git_url: str | None = None
    branch: str = "main"
    path: str | None = None
    code_path: str | None = None
    mode: str = "long_running"
    startup_timeout_secs: float = 60.0
    redis_storage: bool = False
    requirements_file: str = "requirements.txt"
    env: Mapping[str, str] = field(default_factory=dict)
    git_token: str | None = None


@dataclass(frozen=True)
class Registration:
    """One parent's registration: Redis, sub-queues with priorities, deployment, secrets."""

    parent: str
    redis_url: str
    sub_queues: tuple[tuple[str, int], ...]
    deployment: DeploymentSpec
    vaults: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, parent: str, body: Any) -> Registration:
        """Validate a 200 body; raise RegistrationError naming the first missing field."""

        def need(container: Any, key: str, where: str) -> Any:
            if not isinstance(container, dict) or container.get(key) is None:
                raise RegistrationError(f"registration answer for '{parent}' lacks {where}{key}")
            return container[key]

        redis_url = need(need(body, "redis", ""), "url", "redis.")
        subs = need(body, "sub_queues", "")
        try:
            sub_queues = tuple((str(need(s, "name", "sub_queues[].")), int(s.get("priority", 1)))
                               for s in subs)
        except (TypeError, ValueError, AttributeError):
            raise RegistrationError(
                f"registration answer for '{parent}' has malformed sub_queues") from None
        block = need(body, "deployment", "")
        startup_cmd = need(block, "startup_cmd", "deployment.")
        if not block.get("git_url") and not block.get("path"):
            raise RegistrationError(
                f"registration answer for '{parent}' lacks deployment.git_url or deployment.path"
            )
        spec = DeploymentSpec(
            startup_cmd=startup_cmd,
            git_url=block.get("git_url") or None,
            branch=block.get("branch") or "main",
            path=block.get("path") or None,
            code_path=block.get("code_path") or None,
            mode=block.get("mode") or "long_running",
            startup_timeout_secs=float(block.get("startup_timeout_secs") or 60),
            redis_storage=bool(block.get("redis_storage")),
            requirements_file=block.get("requirements_file") or "requirements.txt",
            env={str(k): str(v) for k, v in (block.get("env") or {}).items()},
            git_token=block.get("git_token") or None,
        )
        vaults = {str(k): str(v) for k, v in (body.get("vaults") or {}).items()}
        return cls(parent, redis_url, sub_queues, spec, vaults)


def register(
    server_url: str,
    api_key: str,
    parent: str,
    worker_id: str,
    *,
    retries: int,
    retry_delay: float,
    warn: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Registration:
    """Register one parent, retrying transient failures with a doubling delay."""
    body = json.dumps({
        "queue": parent, "hostname": socket.gethostname(), "os": platform.system().lower(),
        "version": __version__, "worker_id": worker_id,
    }).encode()
    delay = retry_delay
    for attempt in range(1, retries + 1):
        request = urllib.request.Request(  # noqa: S310 - the configured server URL
            f"{server_url}/worker/register", data=body, method="POST",
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=REGISTER_TIMEOUT) as response:  # noqa: S310
                answer = json.loads(response.read())
            return Registration.from_answer(parent, answer)
        except urllib.error.HTTPError as exc:
            problem = _http_problem(parent, exc)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = f"cannot reach {server_url}: {getattr(exc, 'reason', exc)}"
        if attempt == retries:
            raise RegistrationError(
                f"registration of '{parent}' failed after {retries} attempts: {problem}"
            )
        warn(f"registration of '{parent}' failed ({problem}); retrying in {delay:g} s")
        sleep(delay)
        delay = min(delay * 2, MAX_RETRY_DELAY)
    raise RegistrationError(f"registration of '{parent}' was not attempted")


def _http_problem(parent: str, exc: urllib.error.HTTPError) -> str:
    """The message of a transient HTTP failure; raise RegistrationError for a fatal one."""
    try:
        envelope = json.loads(exc.read() or b"{}")
    except ValueError:
        envelope = {}
    code = envelope.get("code") if isinstance(envelope, dict) else None
    messages = "; ".join(envelope.get("errors") or []) if isinstance(envelope, dict) else ""
    if exc.code in (401, 403):
        reason = "401 unauthorized" if exc.code == 401 else "403 forbidden"
        raise RegistrationError(f"server rejected the API key ({reason})")
    if exc.code == 404:
        raise RegistrationError(f"queue '{parent}' is not configured on the server")
    if code in _FATAL_CODES:
        raise RegistrationError(messages or code)
    if exc.code == 429 or exc.code >= 500:
        return f"HTTP {exc.code} {messages}".strip()
    raise RegistrationError(f"registration of '{parent}' refused: HTTP {exc.code} {messages}")
