"""The JSON API blueprint: client routes (/queue/*), worker registration, admin routes (/api/*).

Each module registers its views on `api_bp`; the route table lives in http-api.md section 4 and
`flask routes` / `/openapi.json` show the same surface.
"""

from flask import Blueprint

api_bp = Blueprint("api", __name__)

from runqy.web.api import (  # noqa: E402,F401  (modules register their routes on api_bp)
    admin_queues,
    admin_tasks,
    admin_workers,
    client,
    queue_config_routes,
    registration,
    vault_routes,
)
