"""The Flask application: `create_app` (the factory) and `bootstrap` (factory + embedded Redis).

Blueprints: `runqy.web.api` (client, worker and admin JSON routes), `runqy.web.ops` (health,
metrics, OpenAPI, docs) and, unless `--no-ui`, the dashboard blueprint from
`runqy.web.monitoring` (mounted at /monitoring; a placeholder answers until it exists).
"""

from runqy.web.factory import Bootstrapped, RunqyState, bootstrap, create_app, wsgi_app

__all__ = ["Bootstrapped", "RunqyState", "bootstrap", "create_app", "wsgi_app"]
