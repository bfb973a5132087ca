"""`POST /worker/register`: a worker learns its Redis, sub-queues, deployment and secrets (6),
as a thin view on :func:`runqy.core.workers.register`."""

from __future__ import annotations

from typing import Any

from runqy.core import workers
from runqy.web.api import api_bp
from runqy.web.auth import WORKER, require_role
from runqy.web.inputs import json_body
from runqy.web.state import core, runqy_state


@api_bp.post("/worker/register")
@require_role(WORKER)
def register_worker() -> Any:
    """Register a worker: Redis connection, sub-queues, deployment and vault values."""
    requested = workers.registration_queue(json_body())
    settings = runqy_state().settings
    return workers.register(core(), requested,
                            settings.worker_redis_url or settings.redis_connection_url())
