"""The HTML dashboard at /monitoring: server-rendered pages and HTMX partials over the inspector.

`bp` is the blueprint the app factory mounts (unless `--no-ui`); importing this package
registers every dashboard route on it. Access rules live in `auth`, pages in `views` and
`actions`, the Metrics page in `metrics_view`, the task search in `search_view`, and the SVG
charts in `charts`.
"""

from runqy.web.monitoring import (  # noqa: F401  (routes register)
    actions,
    auth,
    editors,
    metrics_view,
    search_view,
    views,
)
from runqy.web.monitoring.blueprint import bp

__all__ = ["bp"]
