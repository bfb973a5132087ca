"""The Flask application: `create_app` (the factory) and `bootstrap` (factory + embedded Redis).

Blueprints: `runqy.web.api` (client, worker and admin JSON routes), `runqy.web.ops` (health,
metrics, OpenAPI, docs) and, unless `--no-ui`, the dashboard blueprint from
`runqy.web.monitoring` (mounted at /monitoring). Extensions are created in
`runqy.web.extensions` and bound in `create_app`; the app state is `runqy.web.state`.
"""

from runqy.web.factory import Bootstrapped, RunqyState, bootstrap, create_app, wsgi_app

__all__ = ["Bootstrapped", "RunqyState", "bootstrap", "create_app", "wsgi_app"]
