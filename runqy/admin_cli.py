"""`runqy admin`: account chores done on the server's database, without Redis or a running server.

`runqy admin reset-password --email E` sets a new password for the dashboard's admin account
(asked twice with hidden input, or one line on stdin with `--password-stdin`) and ends every
dashboard session of the account (a stolen cookie stops working at once). The database is
found exactly as `runqy serve` finds it: flags, then environment, then `.env`, then
`<instance>/runqy.db`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from runqy.config import ConfigError, Settings, mask_url_password

MAX_PASSWORD_LENGTH = 256  # as the login form accepts

# The database flags of `runqy serve`, with the same names and settings fields.
DATABASE_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--instance-path", "instance_path", click.Path(path_type=Path),
     "Instance folder (default ./instance)."),
    ("--database-url", "database_url", str, "postgresql://... or sqlite:///abs/path.db."),
    ("--db-host", "db_host", str, "PostgreSQL host."),
    ("--db-port", "db_port", int, "PostgreSQL port (5432)."),
    ("--db-user", "db_user", str, "PostgreSQL user (postgres)."),
    ("--db-password", "db_password", str, "PostgreSQL password."),
    ("--db-name", "db_name", str, "PostgreSQL database (runqy)."),
    ("--db-ssl", "db_ssl", str, "libpq sslmode (disable)."),
    ("--sqlite-path", "sqlite_path", click.Path(path_type=Path),
     "SQLite file (default <instance>/runqy.db)."),
)


def database_options(command: Any) -> Any:
    """Decorate `command` with the database flags of DATABASE_FLAGS."""
    for flag, name, kind, text in reversed(DATABASE_FLAGS):
        command = click.option(flag, name, type=kind, default=None, help=text)(command)
    return command


def load_settings(flags: dict[str, Any]) -> Settings:
    try:
        return Settings.load(flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def database_app(settings: Settings) -> Flask:
    """A Flask app bound to the server's database only: no Redis, keys or blueprints. The
    schema is brought up to date first (a database an older `runqy serve` made lacks the
    sessions table)."""
    import flask_migrate

    from runqy.web.extensions import db, migrate
    from runqy.web.factory import MIGRATIONS_DIR

    if settings.database_kind == "sqlite" and not settings.sqlite_file.is_file():
        raise click.ClickException(
            f"no database at {settings.sqlite_file}: start `runqy serve` once (with the same "
            "instance path or database settings) and create the admin account at /monitoring")
    app = Flask("runqy-admin")
    app.config["SQLALCHEMY_DATABASE_URI"] = settings.database_uri()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    with app.app_context():
        flask_migrate.upgrade(directory=MIGRATIONS_DIR)
    return app


def read_password(from_stdin: bool) -> str:
    from runqy.web.monitoring.forms import MIN_PASSWORD_LENGTH

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise click.ClickException(
            f"the password must have {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters")
    return password


@click.group()
def admin() -> None:
    """Dashboard account administration (works on the database; Redis is not needed)."""


@admin.command("reset-password")
@click.option("--email", required=True, help="Email of the admin account.")
@click.option("--password-stdin", is_flag=True, default=False,
              help="Read the new password from the first line of stdin (for scripts).")
@database_options
def reset_password(email: str, password_stdin: bool, **flags: Any) -> None:
    """Set a new password for the dashboard admin account EMAIL."""
    from runqy.web.admin_sessions import end_all_sessions
    from runqy.web.extensions import db
    from runqy.web.models import AdminUser

    settings = load_settings(flags)
    app = database_app(settings)
    where = mask_url_password(settings.database_uri())
    wanted = email.strip().lower()
    with app.app_context():
        try:
            account = db.session.query(AdminUser).filter_by(email=wanted).first()
            if account is None:
                existing = db.session.query(AdminUser.email).first()
                hint = (f"; the admin account is {existing[0]}" if existing else
                        "; no admin account exists yet: open /monitoring to create one")
                raise click.ClickException(f"no admin account with email {wanted} in {where}"
                                           f"{hint}")
            password = read_password(password_stdin)
            account.set_password(password)
            ended = end_all_sessions(account.id)
            db.session.commit()
        except SQLAlchemyError as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise click.ClickException(
                f"cannot update the admin account in {where}: {first_line}") from None
    click.echo(f"Password of {wanted} reset; {ended} open dashboard session(s) ended. Log in "
               "at /monitoring/login.")
