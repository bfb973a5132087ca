"""Parity: every operation the dashboard offers, run through the dashboard and through the API
on the same data set, leaves the same Redis and database behind and is refused the same way.

Each case starts from the same known data set (queue configurations, vaults, tasks in several
states with fixed IDs), runs its steps through one door, and records what the user saw and the
state left behind; then the same from scratch through the other door. A refusal must be a
refusal in both, with the API's message shown by the dashboard too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask

from runqy.broker import Admin, Broker
from runqy.core.cipher import VaultCipher
from runqy.core.models import QueueConfig, SubQueue, Vault, VaultEntry
from runqy.web.extensions import db
from runqy.web.state import runqy_state
from tests.parity.conftest import ADMIN, ApiDoor, DashboardDoor, Outcome
from tests.server.conftest import deployment

IMGS = "imgs.default"
MAIL = "mail.default"
HIGH = "imgs.high"  # configured, nothing enqueued yet: not in Redis


def _api(client: Any, method: str, path: str, body: Any = None) -> Any:
    response = client.open(path, method=method, headers=ADMIN, json=body)
    assert response.status_code < 300, (path, response.json)
    return response.json


def build_data_set(app: Flask, redis_client: redis.Redis) -> None:
    """The known state every case starts from."""
    redis_client.flushdb()
    with app.app_context():
        for model in (VaultEntry, Vault, SubQueue, QueueConfig):
            db.session.query(model).delete()
        db.session.commit()
    client = app.test_client()
    _api(client, "POST", "/api/vaults", {"name": "creds"})
    _api(client, "POST", "/api/vaults/creds/entries", {"key": "TOKEN", "value": "t0k"})
    _api(client, "POST", "/api/vaults", {"name": "free"})
    _api(client, "POST", "/api/vaults/free/entries",
         {"key": "COLOR", "value": "blue", "is_secret": False})
    _api(client, "POST", "/api/queue-configs", {
        "name": "imgs", "deployment": deployment(vaults=["creds"]),
        "sub_queues": [{"name": "default", "priority": 1}, {"name": "high", "priority": 5}]})
    _api(client, "POST", "/api/queue-configs", {"name": "mail", "deployment": deployment()})
    for task_id, queue, options in (("act1", "imgs", {}), ("p1", "imgs", {}),
                                    ("p2", "imgs", {}), ("s1", "imgs", {"process_in": 600}),
                                    ("a1", "imgs", {}), ("m1", "mail", {})):
        _api(client, "POST", "/queue/add",
             {"queue": queue, "data": {"n": task_id}, "task_id": task_id, **options})
    taken = Broker(redis_client).dequeue([IMGS])
    assert taken is not None and taken.msg.id == "act1"
    Admin(redis_client).archive_task(IMGS, "a1")


def redis_state(redis_client: redis.Redis) -> dict[str, Any]:
    """Every key with its contents; sorted-set scores and wall-clock values left out (they
    differ by the second between the two runs, not by the door)."""
    state: dict[str, Any] = {}
    for raw in redis_client.keys("*"):
        key = raw.decode()
        if key.startswith("runqy:login-failures:"):  # the dashboard's own login
            continue
        kind = redis_client.type(raw).decode()
        if kind == "string":
            value: Any = "<time>" if key.endswith(":paused") else redis_client.get(raw)
        elif kind == "hash":
            value = {k: v for k, v in redis_client.hgetall(raw).items()
                     if k != b"pending_since"}
        elif kind == "list":
            value = redis_client.lrange(raw, 0, -1)
        elif kind == "set":
            value = sorted(redis_client.smembers(raw))
        else:
            value = sorted(redis_client.zrange(raw, 0, -1))
        state[key] = (kind, value)
    return state


def database_state(app: Flask) -> dict[str, Any]:
    with app.app_context():
        cipher: VaultCipher = runqy_state().cipher
        configs = {c.name: (c.enabled, c.deployment, c.vault_names, c.input_schema,
                            c.task_defaults,
                            sorted((s.name, s.priority, s.enabled) for s in c.sub_queues))
                   for c in db.session.query(QueueConfig)}
        vaults = {v.name: (v.description,
                           sorted((e.key, e.is_secret, cipher.decrypt(e.value_encrypted))
                                  for e in v.entries))
                  for v in db.session.query(Vault)}
        db.session.remove()
    return {"configs": configs, "vaults": vaults}


Door = ApiDoor | DashboardDoor


@dataclass(frozen=True)
class Case:
    steps: Callable[[Door], list[Outcome]]
    done: list[bool]  # which steps succeed (the others are refused)
    # Whether the state afterwards differs: by default when every step was done (a refusal
    # writes nothing); set for no-ops and partly refused batches.
    changes: bool | None = None


CONFIG_DOC = {"deployment": deployment(vaults=["creds"]),
              "sub_queues": [{"name": "default", "priority": 3}]}
BAD_CONFIG = {"deployment": {"startup_cmd": "python main.py"},
              "sub_queues": [{"name": "default", "priority": 0}]}

CASES = {
    "pause": Case(lambda d: [d.pause(IMGS)], [True]),
    "pause then resume": Case(lambda d: [d.pause(IMGS), d.resume(IMGS)], [True, True],
                              changes=False),
    "pause a configured queue not yet in redis": Case(lambda d: [d.pause(HIGH)], [True]),
    "pause an unknown queue": Case(lambda d: [d.pause("nope.default")], [False]),
    "delete a queue with tasks": Case(lambda d: [d.delete_queue(IMGS)], [False]),
    "force-delete a queue with an active task": Case(lambda d: [d.delete_queue(IMGS, True)],
                                                     [False]),
    "force-delete a queue (config disabled too)": Case(lambda d: [d.delete_queue(MAIL, True)],
                                                       [True]),
    "delete a configured empty queue": Case(lambda d: [d.delete_queue(HIGH)], [True]),
    "run a scheduled task": Case(lambda d: [d.task_action(IMGS, "s1", "run")], [True]),
    "archive a pending task": Case(lambda d: [d.task_action(IMGS, "p1", "archive")], [True]),
    "archive an archived task (no-op)": Case(lambda d: [d.task_action(IMGS, "a1", "archive")],
                                             [True], changes=False),
    "delete an archived task": Case(lambda d: [d.task_action(IMGS, "a1", "delete")], [True]),
    # Cancelling publishes to the workers; the task stays active until its worker stops it.
    "cancel an active task": Case(lambda d: [d.task_action(IMGS, "act1", "cancel")], [True],
                                  changes=False),
    "run a pending task": Case(lambda d: [d.task_action(IMGS, "p1", "run")], [False]),
    "delete an active task": Case(lambda d: [d.task_action(IMGS, "act1", "delete")], [False]),
    "act on a missing task": Case(lambda d: [d.task_action(IMGS, "gone", "archive")], [False]),
    "batch archive, partly refused": Case(
        lambda d: [d.batch(IMGS, "archive", ["p1", "p2", "act1", "gone"])], [False],
        changes=True),
    "batch run": Case(lambda d: [d.batch(IMGS, "run", ["s1", "a1"])], [True]),
    "batch with an unknown action": Case(lambda d: [d.batch(IMGS, "explode", ["p1"])],
                                         [False]),
    "archive search results across queues, partly refused": Case(
        lambda d: [d.search_act("archive", [(IMGS, "p1"), (MAIL, "m1"), (IMGS, "act1")])],
        [False], changes=True),
    "delete search results": Case(
        lambda d: [d.search_act("delete", [(IMGS, "a1"), (MAIL, "m1")])], [True]),
    "archive every pending task": Case(lambda d: [d.all_in_state(IMGS, "archive", "pending")],
                                       [True]),
    "delete every archived task": Case(lambda d: [d.all_in_state(IMGS, "delete", "archived")],
                                       [True]),
    "run every pending task (not allowed)": Case(
        lambda d: [d.all_in_state(IMGS, "run", "pending")], [False]),
    "save a configuration": Case(lambda d: [d.save_config("imgs", CONFIG_DOC, new=False)],
                                 [True]),
    "create a configuration": Case(lambda d: [d.save_config("fresh", CONFIG_DOC, new=True)],
                                   [True]),
    "create a configuration that exists": Case(
        lambda d: [d.save_config("mail", CONFIG_DOC, new=True)], [False]),
    "save an invalid configuration": Case(
        lambda d: [d.save_config("imgs", BAD_CONFIG, new=False)], [False]),
    "disable a configuration": Case(lambda d: [d.toggle_config("imgs", enabled=True)], [True]),
    "disable then restore a configuration": Case(
        lambda d: [d.toggle_config("mail", enabled=True), d.toggle_config("mail", enabled=False)],
        [True, True], changes=False),
    "create a vault": Case(lambda d: [d.create_vault("new-one", "notes")], [True]),
    "create a vault that exists": Case(lambda d: [d.create_vault("creds")], [False]),
    "create a vault with a bad name": Case(lambda d: [d.create_vault("-bad")], [False]),
    "delete an unused vault": Case(lambda d: [d.delete_vault("free")], [True]),
    "delete a vault in use": Case(lambda d: [d.delete_vault("creds")], [False]),
    "force-delete a vault in use": Case(lambda d: [d.delete_vault("creds", True)], [True]),
    "add and replace entries": Case(
        lambda d: [d.set_entry("free", "SIZE", "9", secret=True),
                   d.set_entry("free", "COLOR", "red", secret=False)], [True, True]),
    "add an entry with a bad key": Case(lambda d: [d.set_entry("free", "9X", "v", secret=True)],
                                        [False]),
    "delete an entry": Case(lambda d: [d.delete_entry("free", "COLOR")], [True]),
    "delete a missing entry": Case(lambda d: [d.delete_entry("free", "NOPE")], [False]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_dashboard_and_api_do_the_same(name, app, redis_client):
    case = CASES[name]
    results = {}
    for door_class in (ApiDoor, DashboardDoor):
        build_data_set(app, redis_client)
        before = (redis_state(redis_client), database_state(app))
        door = door_class(app.test_client())
        outcomes = case.steps(door)
        after = (redis_state(redis_client), database_state(app))
        assert [o.done for o in outcomes] == case.done, (door.name, outcomes)
        changes = all(case.done) if case.changes is None else case.changes
        assert (after != before) == changes, f"{door.name}: '{name}' should change: {changes}"
        results[door.name] = (outcomes, after)
    api_outcomes, api_state = results["api"]
    dash_outcomes, dash_state = results["dashboard"]
    assert dash_state[1] == api_state[1], "the database differs"
    assert dash_state[0] == api_state[0], "Redis differs"
    for api, dashboard in zip(api_outcomes, dash_outcomes, strict=True):
        if api.refused:
            assert api.refused in dashboard.refused, (api.refused, dashboard.refused)
