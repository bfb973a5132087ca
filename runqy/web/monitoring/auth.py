"""Dashboard access: the single admin account, first-time setup (behind a one-time token unless
the server is loopback-only: `runqy.web.setup_token`), login/logout, and the guard
every dashboard request passes (login, CSRF, read-only). Failed logins are throttled per client
address and account, in Redis (`throttle`).

Sessions are Flask's signed cookie made permanent for seven days at login; it carries the token
of a server-side session (`runqy.web.admin_sessions`), which Flask-Login loads the `AdminUser`
through, so logout, "sign out everywhere" and password changes revoke cookies. Passwords are
hashed by the model (werkzeug scrypt).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from runqy.core.models import utcnow
from runqy.web.admin_sessions import (
    end_all_sessions,
    end_session,
    open_session,
    session_user,
)
from runqy.web.extensions import csrf, db, login_manager
from runqy.web.models import AdminUser
from runqy.web.monitoring.blueprint import (
    PUBLIC_ENDPOINTS,
    READ_ONLY_ALLOWED,
    SAFE_METHODS,
    bp,
    message_page,
)
from runqy.web.monitoring.forms import ChangePasswordForm, LoginForm, SetupForm
from runqy.web.monitoring.throttle import LoginThrottle
from runqy.web.setup_token import (
    TOKEN_FILE,
    discard_setup_token,
    ensure_setup_token,
    setup_token_matches,
    setup_token_required,
)
from runqy.web.state import runqy_state

login_manager.login_view = "monitoring.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "error"


@login_manager.user_loader
def load_admin(session_token: str) -> AdminUser | None:
    return session_user(session_token)


@login_manager.unauthorized_handler
def unauthorized() -> BaseResponse:
    # script_root: behind a proxy that mounts the app under a prefix, come back under it too.
    target = url_for("monitoring.login", next=request.script_root + request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # A poll after the session expired: send the whole page to the login form.
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def admin_exists() -> bool:
    return db.session.query(AdminUser.id).limit(1).first() is not None


def safe_next(target: str | None) -> str:
    """Only same-site paths inside the dashboard are followed after login (no open redirect)."""
    home = url_for("monitoring.overview")
    if not target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    dashboard_root = home.rstrip("/")
    return target if parts.path.startswith(dashboard_root) else home


@bp.before_request
def guard() -> BaseResponse | tuple[str, int] | None:
    """Login (or first-time setup), then CSRF on mutating methods, then read-only refusal."""
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        if not admin_exists():
            return redirect(url_for("monitoring.setup"))
        return login_manager.unauthorized()
    if request.method not in SAFE_METHODS:
        csrf.protect()
        if runqy_state().settings.read_only and request.endpoint not in READ_ONLY_ALLOWED:
            return message_page("Read-only mode", "This dashboard is read-only "
                                "(RUNQY_READ_ONLY): changes are refused.", 403)
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> BaseResponse | str | tuple[str, int]:
    if admin_exists():
        if request.method == "POST":
            return message_page("Setup closed", "An admin account already exists.", 409)
        return redirect(url_for("monitoring.login"))
    settings = runqy_state().settings
    form = SetupForm(token=request.args.get("token", ""))
    intro = "No admin exists yet. This account signs in to the dashboard."
    if setup_token_required(settings, request):
        ensure_setup_token(settings)
        intro += (" Enter the one-time setup token that runqy serve printed (also in the "
                  f"file {TOKEN_FILE} of the server's instance folder).")
    else:
        del form.token
    status = 200
    if form.validate_on_submit():
        if "token" in form and not setup_token_matches(settings, form.token.data):
            form.token.errors = [*form.token.errors, "Wrong setup token."]
            status = 403
        else:
            admin = AdminUser(email=form.email.data.strip().lower())
            admin.set_password(form.password.data)
            db.session.add(admin)
            db.session.commit()
            discard_setup_token(settings)
            start_session(admin)
            return redirect(url_for("monitoring.overview"))
    elif form.is_submitted():
        status = 400
    return render_template("monitoring/auth.html", form=form, title="Create the admin account",
                           intro=intro, submit_label="Create Admin Account"), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    if not admin_exists():
        return redirect(url_for("monitoring.setup"))
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        address = request.remote_addr or "-"
        email = form.email.data.strip().lower()
        throttle = LoginThrottle(runqy_state().redis)
        wait = throttle.attempt(address, email)
        if wait:
            flash(f"Too many failed logins. Try again in {wait} s.", "error")
            status = 429
            headers["Retry-After"] = str(wait)
        else:
            admin = db.session.query(AdminUser).filter_by(email=email).first()
            if admin is not None and admin.check_password(form.password.data):
                throttle.succeeded(address, email)
                start_session(admin)
                return redirect(safe_next(request.args.get("next")))
            flash("Wrong email or password.", "error")
            status = 401
    return render_template("monitoring/auth.html", form=form, title="Log in to runqy",
                           intro=None, submit_label="Log in"), status, headers


@bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    end_session(current_user.session_token)
    db.session.commit()
    return _signed_out("Logged out.")


@bp.route("/sessions/end-all", methods=["POST"])
def sign_out_everywhere() -> BaseResponse:
    ended = end_all_sessions(current_user.id)
    db.session.commit()
    return _signed_out(f"Signed out everywhere ({ended} session{'s' if ended != 1 else ''}).")


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> BaseResponse | str | tuple[str, int]:
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        admin: AdminUser = current_user._get_current_object()
        if admin.check_password(form.current.data):
            admin.set_password(form.password.data)
            end_all_sessions(admin.id)
            db.session.commit()
            return _signed_out("Password changed: every session was signed out. Log in with "
                               "the new password.")
        form.current.errors = [*form.current.errors, "This is not the current password."]
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("monitoring/password.html", form=form,
                           title="Change password"), status


def _signed_out(message: str) -> BaseResponse:
    logout_user()
    session.clear()
    flash(message, "ok")
    return redirect(url_for("monitoring.login"))


def start_session(admin: AdminUser) -> None:
    session.clear()
    session.permanent = True
    open_session(admin)
    admin.last_login_at = utcnow()
    db.session.commit()
    login_user(admin)
