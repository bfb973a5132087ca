"""Server-side dashboard sessions: what makes a session cookie revocable.

The signed cookie alone cannot be taken back: a copy keeps working until it expires. So each
login creates an `AdminSession` row and the cookie carries its random token (as Flask-Login's
user id); every request looks the token up. Logout deletes that row; "sign out everywhere",
a password change and `runqy admin reset-password` delete all of the account's rows.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete

from runqy.core.models import utcnow
from runqy.web.extensions import db
from runqy.web.models import AdminSession, AdminUser

SESSION_LIFETIME = timedelta(days=7)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(user: AdminUser) -> str:
    """A new session for `user` (committed by the caller); its token is also set on `user`."""
    now = utcnow()
    db.session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    db.session.add(AdminSession(id=_digest(token), user_id=user.id, created_at=now,
                                expires_at=now + SESSION_LIFETIME))
    user.session_token = token
    return token


def session_user(token: str) -> AdminUser | None:
    """The user of a live session, or None when the token is unknown, ended or expired."""
    row = db.session.get(AdminSession, _digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = db.session.get(AdminUser, row.user_id)
    if user is not None:
        user.session_token = token
    return user


def end_session(token: str) -> None:
    db.session.execute(delete(AdminSession).where(AdminSession.id == _digest(token)))


def end_all_sessions(user_id: int) -> int:
    """End every session of the account; returns how many were open."""
    result = db.session.execute(delete(AdminSession).where(AdminSession.user_id == user_id))
    return int(result.rowcount or 0)
