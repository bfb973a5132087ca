"""Session scoping: the dashboard's session interface serves only the dashboard's paths.

Only the /monitoring dashboard logs people in (flask-login, CSRF tokens). Opening Flask's
signed-cookie session costs ~95 µs per request (serializer set-up, cookie parsing) that the
API, ops and metrics routes never use, so outside the dashboard the request gets Flask's
null session: reads see an empty session, writes raise, and Flask never saves it (no cookie,
no `Vary: Cookie`).
"""

from __future__ import annotations

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface, SessionInterface, SessionMixin


class ScopedSessionInterface(SessionInterface):
    """`inner` (whatever interface the app had) for paths under `prefix`; null elsewhere."""

    def __init__(self, inner: SessionInterface, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def open_session(self, app: Flask, req: Request) -> SessionMixin | None:
        if not req.path.startswith(self.prefix):
            return self.make_null_session(app)
        return self.inner.open_session(app, req)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self.inner.save_session(app, session, response)


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever the request came over HTTPS
    (directly or through a trusted proxy), so the same server works with and without TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)
