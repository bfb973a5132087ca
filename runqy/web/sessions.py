"""Session scoping: the dashboard's session interface serves only the dashboard's paths.

Only the /monitoring dashboard logs people in (flask-login, CSRF tokens). Opening Flask's
signed-cookie session costs ~95 µs per request (serializer set-up, cookie parsing) that the
API, ops and metrics routes never use, so outside the dashboard the request gets Flask's
null session: reads see an empty session, writes raise, and Flask never saves it (no cookie,
no `Vary: Cookie`).
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin


class ScopedSessionInterface(SessionInterface):
    """`inner` (whatever interface the app had) for paths under `prefix`; null elsewhere."""

    def __init__(self, inner: SessionInterface, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if not request.path.startswith(self.prefix):
            return self.make_null_session(app)
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self.inner.save_session(app, session, response)
