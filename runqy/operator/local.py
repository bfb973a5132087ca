"""Local mode: the operations run on the instance's own Redis and database through the core
layer, the same functions the API calls, and answer the same JSON the API would.

The instance is found as `runqy serve` finds it (flags, environment, `.env`, `./instance`).
When the instance uses the embedded Redis, a running one is reused; otherwise it is started for
the command and shut down after it.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from runqy.config import ConfigError, Settings, mask_url_password
from runqy.core import queue_configs, queues, tasks, vaults, workers
from runqy.core.enqueue import Enqueuer, Limits
from runqy.core.objects import (
    ANSWERS,
    added_object,
    batch_object,
    deleted_queue_object,
    entry_object,
    queue_detail_object,
    summary_object,
    task_list_object,
    task_object,
    vault_detail_object,
    vault_object,
)
from runqy.core.queue_configs import Saved, serialize
from runqy.core.runtime import Runtime
from runqy.core.values import format_time
from runqy.core.vaults import VaultCipher
from runqy.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from runqy.operator.errors import OperatorError
from runqy.redis_connection import connect


def local_settings(redis_uri: str | None) -> Settings:
    try:
        return Settings.load({"redis_url": redis_uri})
    except ConfigError as exc:
        raise OperatorError(str(exc)) from None


class LocalBackend:
    """One instance's Runtime, opened for one command."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.database_kind == "sqlite" and not settings.sqlite_file.is_file():
            raise OperatorError(
                f"no runqy instance at {settings.instance_dir} (no {settings.sqlite_file.name}):"
                " start `runqy serve` there once, set RUNQY_INSTANCE_PATH, or give a server "
                "with -s URL or `runqy login`")
        self.embedded: EmbeddedRedis | None = None
        url = settings.redis_connection_url()
        if settings.wants_embedded_redis:
            try:
                self.embedded = EmbeddedRedis(settings.instance_dir,
                                              settings.embedded_redis_port,
                                              settings.redis_server_bin).start()
            except EmbeddedRedisError as exc:
                raise OperatorError(str(exc)) from None
            url = self.embedded.url
        self.where = ("embedded Redis of " + str(settings.instance_dir)
                      if self.embedded else mask_url_password(url))
        client = connect(url, socket_timeout=5, socket_connect_timeout=2)
        self.engine = create_engine(settings.database_uri(), connect_args=(
            {"timeout": 5} if settings.database_kind == "sqlite" else {"connect_timeout": 2}))
        key = settings.vault_key_bytes()
        self.rt = Runtime(client, Session(self.engine), VaultCipher(key) if key else None,
                          settings.config_dir, settings.redis_wait_replicas,
                          settings.redis_wait_timeout_ms)
        self.enqueuer = Enqueuer(self.rt, Limits.of(settings))

    def close(self) -> None:
        self.rt.session.close()
        self.engine.dispose()
        self.rt.redis.close()
        if self.embedded is not None and self.embedded.process is not None:
            self.embedded.stop()  # started for this command only; an adopted one keeps running

    # ---- queues -------------------------------------------------------------------------

    def list_queues(self) -> dict[str, Any]:
        listed = [summary_object(s) for s in queues.list_queues(self.rt)]
        return {"queues": listed, "count": len(listed)}

    def queue(self, name: str, days: int) -> dict[str, Any]:
        summary = queues.queue_summary(self.rt, name)
        return queue_detail_object(summary, queues.history(self.rt, summary.name, days))

    def set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        return {"queue": queues.set_paused(self.rt, name, paused), "paused": paused}

    def delete_queue(self, name: str, force: bool) -> dict[str, Any]:
        return deleted_queue_object(queues.delete_queue(self.rt, name, force=force))

    # ---- tasks --------------------------------------------------------------------------

    def enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        return added_object(self.enqueuer.add(body))

    def enqueue_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return batch_object(self.enqueuer.add_batch(body))

    def list_tasks(self, queue: str, state: str, size: int) -> dict[str, Any]:
        name = queues.resolve(self.rt, queue)
        page = tasks.list_tasks(self.rt, name, tasks.check_state(state), size=size)
        return task_list_object(name, state, 1, size, page, None)

    def get_task(self, queue: str, task_id: str) -> dict[str, Any]:
        return task_object(tasks.get_task(self.rt, queues.resolve(self.rt, queue), task_id))

    def find_task(self, task_id: str) -> dict[str, Any]:
        return task_object(tasks.find_task(self.rt, task_id))

    def task_action(self, queue: str, task_id: str, action: str) -> dict[str, Any]:
        tasks.act(self.rt, queues.resolve(self.rt, queue), task_id, action)
        return {"task_id": task_id, **ANSWERS[action]}

    def cancel_task(self, task_id: str) -> dict[str, Any]:
        queue = tasks.find_task(self.rt, task_id).queue
        tasks.act(self.rt, queue, task_id, "cancel")
        return {"task_id": task_id, **ANSWERS["cancel"]}

    # ---- workers ------------------------------------------------------------------------

    def list_workers(self) -> dict[str, Any]:
        listed = workers.list_workers(self.rt)
        return {"workers": listed, "count": len(listed)}

    def worker(self, worker_id: str) -> dict[str, Any]:
        return workers.worker_info(self.rt, worker_id)

    def worker_logs(self, worker_id: str, lines: int) -> dict[str, Any]:
        found = workers.worker_logs(self.rt, worker_id, limit=lines)
        return {"worker_id": worker_id, "lines": found, "count": len(found)}

    # ---- queue configurations -----------------------------------------------------------

    def list_configs(self) -> dict[str, Any]:
        listed = [serialize(c) for c in queue_configs.list_configs(self.rt, True)]
        return {"queues": listed, "count": len(listed)}

    def get_config(self, name: str) -> dict[str, Any]:
        return serialize(queue_configs.find_config(self.rt, name))

    @staticmethod
    def _saved(saved: Saved) -> dict[str, Any]:
        return {"queue": serialize(saved.config), "warnings": saved.warnings}

    def create_config(self, doc: dict[str, Any], force: bool) -> dict[str, Any]:
        return self._saved(queue_configs.create_config(self.rt, doc, replace=force))

    def remove_config(self, name: str) -> dict[str, Any]:
        return {"queue": serialize(queue_configs.disable_config(self.rt, name)),
                "disabled": True}

    def reload_configs(self) -> dict[str, Any]:
        return {**queue_configs.reload_config_dir(self.rt), "timestamp": format_time(time.time())}

    # ---- vaults -------------------------------------------------------------------------

    def list_vaults(self) -> dict[str, Any]:
        listed = [vault_object(v) for v in vaults.list_vaults(self.rt)]
        return {"vaults": listed, "count": len(listed)}

    def create_vault(self, name: str, description: str | None) -> dict[str, Any]:
        vaults.cipher_of(self.rt)
        return {"vault": vault_object(vaults.create_vault(self.rt, name, description))}

    def delete_vault(self, name: str, force: bool) -> dict[str, Any]:
        vaults.delete_vault(self.rt, name, force=force)
        return {"vault": name, "deleted": True}

    def vault(self, name: str) -> dict[str, Any]:
        found = vaults.find_vault(self.rt, name)
        return vault_detail_object(found, vaults.cipher_of(self.rt))

    def set_entry(self, name: str, key: str, value: str, secret: bool) -> dict[str, Any]:
        cipher = vaults.cipher_of(self.rt)
        entry, _created = vaults.set_entry(self.rt, name, key, value, secret)
        return entry_object(entry, cipher)

    def delete_entry(self, name: str, key: str) -> dict[str, Any]:
        vaults.delete_entry(self.rt, name, key)
        return {"deleted": True}

    def entries(self, name: str) -> dict[str, Any]:
        listed = self.vault(name)["entries"]
        return {"entries": listed, "count": len(listed)}
