"""Remote mode: every operation is one call to the server's REST API (http-api.md), and the
answer is the API's JSON as it is."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from runqy import __version__
from runqy.operator.errors import OperatorError

TIMEOUT = 30.0  # seconds per request, as the Go CLI


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


class RemoteBackend:
    """The REST API of one server, with one API key."""

    def __init__(self, server: str, api_key: str | None) -> None:
        if urllib.parse.urlsplit(server).scheme not in ("http", "https"):
            raise OperatorError(f"the server URL must start with http:// or https:// "
                                f"(got '{server}')")
        self.server = server.rstrip("/")
        self.api_key = api_key

    def close(self) -> None:
        """Nothing is held between requests."""

    # ---- transport ----------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One request; the decoded JSON answer, or OperatorError naming status and code."""
        params = {k: ("true" if v is True else v) for k, v in query.items()
                  if v is not None and v is not False}
        url = self.server + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"runqy-cli/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:  # never sent on to where a redirect points
            request.add_unredirected_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - same
                return _decoded(response.read(), url)
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except OSError as exc:  # URLError and timeouts are OSErrors
            reason = getattr(exc, "reason", exc)
            reason = getattr(reason, "strerror", None) or reason
            raise OperatorError(f"cannot reach the runqy server at {self.server} "
                                f"({reason})") from None

    # ---- queues -------------------------------------------------------------------------

    def list_queues(self) -> dict[str, Any]:
        return self.call("GET", "/api/queues")

    def queue(self, name: str, days: int) -> dict[str, Any]:
        return self.call("GET", f"/api/queues/{_quote(name)}", days=days)

    def set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        action = "pause" if paused else "unpause"
        return self.call("POST", f"/api/queues/{_quote(name)}/{action}")

    def delete_queue(self, name: str, force: bool) -> dict[str, Any]:
        return self.call("DELETE", f"/api/queues/{_quote(name)}", force=force)

    # ---- tasks --------------------------------------------------------------------------

    def enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/queue/add", body)

    def enqueue_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/queue/add-batch", body)

    def list_tasks(self, queue: str, state: str, size: int) -> dict[str, Any]:
        return self.call("GET", f"/api/queues/{_quote(queue)}/tasks", state=state, size=size)

    def get_task(self, queue: str, task_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/queues/{_quote(queue)}/tasks/{_quote(task_id)}")

    def find_task(self, task_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/tasks/{_quote(task_id)}")

    def task_action(self, queue: str, task_id: str, action: str) -> dict[str, Any]:
        path = f"/api/queues/{_quote(queue)}/tasks/{_quote(task_id)}"
        if action == "delete":
            return self.call("DELETE", path)
        return self.call("POST", f"{path}/{action}")

    def cancel_task(self, task_id: str) -> dict[str, Any]:
        return self.call("POST", f"/api/tasks/{_quote(task_id)}/cancel")

    # ---- workers ------------------------------------------------------------------------

    def list_workers(self) -> dict[str, Any]:
        return self.call("GET", "/api/workers")

    def worker(self, worker_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/workers/{_quote(worker_id)}")

    def worker_logs(self, worker_id: str, lines: int) -> dict[str, Any]:
        return self.call("GET", f"/api/workers/{_quote(worker_id)}/logs", n=lines)

    # ---- queue configurations -----------------------------------------------------------

    def list_configs(self) -> dict[str, Any]:
        return self.call("GET", "/api/queue-configs", include_disabled=True)

    def get_config(self, name: str) -> dict[str, Any]:
        return self.call("GET", f"/api/queue-configs/{_quote(name)}")

    def create_config(self, doc: dict[str, Any], force: bool) -> dict[str, Any]:
        return self.call("POST", "/api/queue-configs", doc, force=force)

    def remove_config(self, name: str) -> dict[str, Any]:
        return self.call("DELETE", f"/api/queue-configs/{_quote(name)}")

    def reload_configs(self) -> dict[str, Any]:
        return self.call("POST", "/api/queue-configs/reload")

    # ---- vaults -------------------------------------------------------------------------

    def list_vaults(self) -> dict[str, Any]:
        return self.call("GET", "/api/vaults")

    def create_vault(self, name: str, description: str | None) -> dict[str, Any]:
        body = {"name": name} if description is None else {"name": name,
                                                          "description": description}
        return self.call("POST", "/api/vaults", body)

    def delete_vault(self, name: str, force: bool) -> dict[str, Any]:
        return self.call("DELETE", f"/api/vaults/{_quote(name)}", force=force)

    def vault(self, name: str) -> dict[str, Any]:
        return self.call("GET", f"/api/vaults/{_quote(name)}")

    def set_entry(self, name: str, key: str, value: str, secret: bool) -> dict[str, Any]:
        return self.call("POST", f"/api/vaults/{_quote(name)}/entries",
                         {"key": key, "value": value, "is_secret": secret})

    def delete_entry(self, name: str, key: str) -> dict[str, Any]:
        return self.call("DELETE", f"/api/vaults/{_quote(name)}/entries/{_quote(key)}")

    def entries(self, name: str) -> dict[str, Any]:
        return self.call("GET", f"/api/vaults/{_quote(name)}/entries")

    # ---- the server itself --------------------------------------------------------------

    def system(self) -> dict[str, Any]:
        return self.call("GET", "/api/system")


def _decoded(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise OperatorError(f"the server at {url} did not answer with JSON; "
                            "is it a runqy server?") from None


def _api_error(exc: urllib.error.HTTPError) -> OperatorError:
    """The API's error envelope as one line: its messages, then `(status code)`."""
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        message = "; ".join(str(m) for m in body["errors"])
        return OperatorError(message, exc.code, str(body.get("code") or "error"))
    return OperatorError(f"the server answered {exc.code} {exc.reason}", exc.code,
                         "not_a_runqy_answer")
