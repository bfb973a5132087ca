"""The two front doors of the parity suite: the JSON API (admin key) and the dashboard (logged
in, with its CSRF token), both through the Flask test client of one real app (real Redis,
real SQLite). Each door performs an operation and reports what a user sees: done, or refused
with a message."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.dashboard.conftest import create_admin
from tests.server.conftest import (  # noqa: F401 - fixtures re-exported for this folder
    ADMIN,
    VAULT_KEY,
    database_url,
    make_app,
)

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Outcome:
    """What the user sees: done, or refused with the message of the (first) refusal."""

    refused: str | None = None

    @property
    def done(self) -> bool:
        return self.refused is None


class ApiDoor:
    name = "api"

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: Any = None) -> Outcome:
        response = self.client.open(path, method=method, headers=ADMIN, json=body)
        if response.status_code >= 400:
            return Outcome(response.json["errors"][0])
        failed = (response.json or {}).get("failed")
        if isinstance(failed, list) and failed:  # a batch: some IDs were refused
            return Outcome(failed[0]["message"])
        return Outcome()

    def pause(self, queue: str) -> Outcome:
        return self._call("POST", f"/api/queues/{queue}/pause")

    def resume(self, queue: str) -> Outcome:
        return self._call("POST", f"/api/queues/{queue}/unpause")

    def delete_queue(self, queue: str, force: bool = False) -> Outcome:
        return self._call("DELETE", f"/api/queues/{queue}?force={str(force).lower()}")

    def task_action(self, queue: str, task_id: str, action: str) -> Outcome:
        if action == "delete":
            return self._call("DELETE", f"/api/queues/{queue}/tasks/{task_id}")
        return self._call("POST", f"/api/queues/{queue}/tasks/{task_id}/{action}")

    def batch(self, queue: str, action: str, ids: list[str]) -> Outcome:
        return self._call("POST", f"/api/queues/{queue}/tasks/batch",
                          {"action": action, "task_ids": ids})

    def search_act(self, action: str, found: list[tuple[str, str]]) -> Outcome:
        """The API has no search: the same IDs as one batch per queue."""
        by_queue: dict[str, list[str]] = {}
        for queue, task_id in found:
            by_queue.setdefault(queue, []).append(task_id)
        outcomes = [self.batch(queue, action, ids) for queue, ids in by_queue.items()]
        return next((o for o in outcomes if o.refused), Outcome())

    def all_in_state(self, queue: str, action: str, state: str) -> Outcome:
        return self._call("POST", f"/api/queues/{queue}/tasks/all",
                          {"action": action, "state": state})

    def save_config(self, name: str, doc: dict[str, Any], new: bool) -> Outcome:
        if new:
            return self._call("POST", "/api/queue-configs", {**doc, "name": name})
        return self._call("PUT", f"/api/queue-configs/{name}", doc)

    def toggle_config(self, name: str, enabled: bool) -> Outcome:
        if enabled:
            return self._call("DELETE", f"/api/queue-configs/{name}")
        return self._call("POST", f"/api/queue-configs/{name}/restore")

    def create_vault(self, name: str, description: str = "") -> Outcome:
        return self._call("POST", "/api/vaults", {"name": name, "description": description})

    def delete_vault(self, name: str, force: bool = False) -> Outcome:
        return self._call("DELETE", f"/api/vaults/{name}?force={str(force).lower()}")

    def set_entry(self, vault: str, key: str, value: str, secret: bool) -> Outcome:
        return self._call("POST", f"/api/vaults/{vault}/entries",
                          {"key": key, "value": value, "is_secret": secret})

    def delete_entry(self, vault: str, key: str) -> Outcome:
        return self._call("DELETE", f"/api/vaults/{vault}/entries/{quote(key)}")


_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class DashboardDoor:
    name = "dashboard"

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        page = client.get("/monitoring/login").text
        token = _TOKEN.search(page).group(1)
        response = client.post("/monitoring/login", data={
            "csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert response.status_code == 302, response.text
        self.token = _TOKEN.search(client.get("/monitoring/settings").text).group(1)

    def _post(self, path: str, **form: Any) -> Outcome:
        with self.client.session_transaction("/monitoring/") as session:
            session.pop("_flashes", None)
        response = self.client.post(f"/monitoring{path}",
                                    data={"csrf_token": self.token, **form})
        if response.status_code >= 400:  # an error page, or the form shown again with problems
            return Outcome(html.unescape(response.text))
        assert response.status_code in (302, 303), (response.status_code, response.text)
        with self.client.session_transaction("/monitoring/") as session:
            flashes = session.get("_flashes", [])
        errors = [message for category, message in flashes if category == "error"]
        return Outcome(errors[0]) if errors else Outcome()

    def pause(self, queue: str) -> Outcome:
        return self._post(f"/queues/{queue}/pause")

    def resume(self, queue: str) -> Outcome:
        return self._post(f"/queues/{queue}/resume")

    def delete_queue(self, queue: str, force: bool = False) -> Outcome:
        return self._post(f"/queues/{queue}/delete", force=str(force).lower())

    def task_action(self, queue: str, task_id: str, action: str) -> Outcome:
        return self._post(f"/queues/{queue}/tasks/{task_id}/{action}")

    def batch(self, queue: str, action: str, ids: list[str]) -> Outcome:
        return self._post(f"/queues/{queue}/batch", action=action, ids=ids)

    def search_act(self, action: str, found: list[tuple[str, str]]) -> Outcome:
        return self._post("/search/act", action=action,
                          ids=[f"{queue}/{task_id}" for queue, task_id in found])

    def all_in_state(self, queue: str, action: str, state: str) -> Outcome:
        return self._post(f"/queues/{queue}/all", action=action, state=state)

    def save_config(self, name: str, doc: dict[str, Any], new: bool) -> Outcome:
        path = "/queue-configs/new" if new else f"/queue-configs/{name}"
        return self._post(path, name=name, body=json.dumps(doc))

    def toggle_config(self, name: str, enabled: bool) -> Outcome:
        return self._post(f"/queue-configs/{name}/toggle")

    def create_vault(self, name: str, description: str = "") -> Outcome:
        return self._post("/vaults", name=name, description=description)

    def delete_vault(self, name: str, force: bool = False) -> Outcome:
        return self._post(f"/vaults/{name}/delete", force=str(force).lower())

    def set_entry(self, vault: str, key: str, value: str, secret: bool) -> Outcome:
        form = {"key": key, "value": value, **({"is_secret": "y"} if secret else {})}
        return self._post(f"/vaults/{vault}", **form)

    def delete_entry(self, vault: str, key: str) -> Outcome:
        return self._post(f"/vaults/{vault}/entries/{quote(key)}/delete")


@pytest.fixture()
def app(make_app) -> Flask:  # noqa: F811 - the fixture imported above
    built = make_app(vault_master_key=VAULT_KEY)
    create_admin(built, ADMIN_EMAIL, ADMIN_PASSWORD)
    return built
