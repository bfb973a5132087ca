"""Security headers, set once for every response in one `after_request`.

Every response: `X-Content-Type-Options: nosniff`, and HSTS when the request came over HTTPS
(directly or through a trusted proxy). HTML responses (the dashboard, /docs): a strict
Content-Security-Policy (scripts and styles from this server's files only: no inline script,
style or handler, no eval), framing refused twice (`frame-ancestors 'none'` and
`X-Frame-Options: DENY`) and `Referrer-Policy: same-origin` (Flask-WTF checks the Referer of
HTTPS form posts, so it must still reach this server).

A dozen lines here rather than flask-talisman: talisman's extras (HTTPS redirects, cookie
flags, per-request nonces) are either done elsewhere or unwanted, and a view can still set its
own value of any of these headers (they are only defaults).
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
HTML_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


def init_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            for name, value in HTML_HEADERS:
                headers.setdefault(name, value)
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
