"""The HTML dashboard at /monitoring: server-rendered pages and HTMX partials over the inspector.

`bp` is the blueprint the app factory mounts (unless `--no-ui`); importing this package
registers every dashboard route on it. Access rules live in `auth`, pages in `views` and
`actions`, and the SVG charts in `charts`.
"""

from runqy.web.monitoring import actions, auth, editors, views  # noqa: F401  (routes register)
from runqy.web.monitoring.blueprint import bp

__all__ = ["bp"]
