"""The `runqy` command: a click group (`main`) with `serve` (also what `runqy` alone runs, as
the Go binary does) and the global options of the operator commands; other commands attach
with `main.add_command(...)`.

`runqy serve` resolves Settings (flags > env > .env > defaults), starts the embedded Redis when
none is configured, prints the start-up banner and runs waitress until SIGINT/SIGTERM, then stops
the embedded Redis cleanly.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from runqy import __version__
from runqy.config import ConfigError, Settings, mask_secret, mask_url_password
from runqy.operator.lazy import LazyGroup


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.option("-s", "--server", metavar="URL",
              help="Server of the operator commands [env: RUNQY_SERVER; default: the saved "
                   "login; none: local mode].")
@click.option("-k", "--api-key", metavar="KEY",
              help="Admin API key [env: RUNQY_API_KEY; default: the saved login].")
@click.option("--redis-uri", metavar="URI",
              help="Redis URL (serve, and the operator commands in local mode).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default=None,
              help="Output of the operator commands: table (default) or json.")
@click.version_option(__version__, "-v", "--version", prog_name="runqy")
@click.pass_context
def main(ctx: click.Context, server: str | None, api_key: str | None, redis_uri: str | None,
         output: str | None) -> None:
    """runqy: a Redis-backed distributed task queue."""
    from runqy.operator.context import Options

    ctx.obj = Options(server, api_key, redis_uri, output)
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve, redis_url=redis_uri)


def _flag_help(text: str, env: str) -> str:
    return f"{text} [env: {env}]"


def _env_only_epilog() -> str:
    from runqy.config import ENV_VARS
    from runqy.serving_limits import LIMITS_HELP

    names = ", ".join(name for var in ENV_VARS for name in var.names)
    return (f"Connections: {LIMITS_HELP}\n\nEvery setting can also come from the environment "
            "or from .env in the working directory (flags win, then the environment, then "
            f".env). Variables: {names}.")


@main.command(epilog=_env_only_epilog())
@click.option("--host", default=None, help=_flag_help("Bind address (default 127.0.0.1).", "HOST"))
@click.option("--port", type=int, default=None,
              help=_flag_help("HTTP port (default 3000).", "PORT"))
@click.option("--instance-path", type=click.Path(path_type=Path), default=None,
              help=_flag_help("Instance folder (default ./instance).", "RUNQY_INSTANCE_PATH"))
@click.option("--redis-url", "--redis-uri", "redis_url", default=None,
              help=_flag_help("Redis URL; redis://, rediss://, redis-sentinel:// or "
                                            "redis-cluster://.", "REDIS_URL"))
@click.option("--redis-tls", is_flag=True, default=None,
              help=_flag_help("Use TLS with the Redis parts (REDIS_HOST, REDIS_PORT, "
                              "REDIS_PASSWORD, REDIS_DB).", "REDIS_TLS"))
@click.option("--embedded-redis/--no-embedded-redis", default=None,
              help=_flag_help("Force or forbid the embedded Redis (default auto).",
                              "RUNQY_EMBEDDED_REDIS"))
@click.option("--database-url", default=None,
              help=_flag_help("postgresql://... or sqlite:///abs/path.db.", "DATABASE_URL"))
@click.option("--db-host", default=None, help=_flag_help("PostgreSQL host.", "DATABASE_HOST"))
@click.option("--db-port", type=int, default=None,
              help=_flag_help("PostgreSQL port (5432).", "DATABASE_PORT"))
@click.option("--db-user", default=None,
              help=_flag_help("PostgreSQL user (postgres).", "DATABASE_USER"))
@click.option("--db-password", default=None,
              help=_flag_help("PostgreSQL password.", "DATABASE_PASSWORD"))
@click.option("--db-name", default=None,
              help=_flag_help("PostgreSQL database (runqy).", "DATABASE_DBNAME"))
@click.option("--db-ssl", default=None,
              help=_flag_help("libpq sslmode (disable).", "DATABASE_SSL"))
@click.option("--sqlite-path", type=click.Path(path_type=Path), default=None,
              help=_flag_help("SQLite file (default <instance>/runqy.db).", "SQLITE_DB_PATH"))
@click.option("--sqlite", is_flag=True, default=False, hidden=False,
              help="Accepted for compatibility; SQLite is the default anyway.")
@click.option("--read-only", is_flag=True, default=None,
              help=_flag_help("Refuse changes in the dashboard and /api.", "RUNQY_READ_ONLY"))
@click.option("--config", "config_dir", type=click.Path(path_type=Path), default=None,
              help=_flag_help("Queue YAML directory, loaded at start and on reload.",
                              "QUEUE_WORKERS_DIR"))
@click.option("--watch", is_flag=True, default=None,
              help=_flag_help("Reload the YAML directory when a file changes.", "RUNQY_WATCH"))
@click.option("--url-prefix", default=None,
              help=_flag_help("Serve every route under this path, e.g. /runqy.",
                              "RUNQY_URL_PREFIX"))
@click.option("--trusted-proxies", type=int, default=None,
              help=_flag_help("Proxy hops whose X-Forwarded-* headers to trust (0).",
                              "RUNQY_TRUSTED_PROXIES"))
@click.option("--threads", type=int, default=None,
              help=_flag_help("Waitress threads (32).", "RUNQY_THREADS"))
@click.option("--processes", type=int, default=None,
              help=_flag_help("Server processes sharing the port (1). Each has its own "
                              "threads; request metrics are per process.", "RUNQY_PROCESSES"))
@click.option("--workers", type=int, default=None, hidden=True,
              help="Deprecated alias of --processes.")
@click.option("--no-ui", is_flag=True, default=None,
              help=_flag_help("Do not mount the /monitoring dashboard.", "RUNQY_NO_UI"))
@click.option("--debug", is_flag=True, default=False,
              help=_flag_help("Log at debug level.", "RUNQY_LOG_LEVEL"))
def serve(sqlite: bool, debug: bool, embedded_redis: bool | None, **flags: Any) -> None:
    """Run the runqy server (REST API, dashboard, metrics) with waitress."""
    overrides: dict[str, Any] = dict(flags)
    if embedded_redis is not None:
        overrides["embedded_redis"] = "always" if embedded_redis else "never"
    if debug:
        overrides["log_level"] = "debug"
    try:
        settings = Settings.load(overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Migration chatter is not useful at every start.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Bootstrap, print the banner, serve until SIGINT/SIGTERM, stop the embedded Redis."""
    from runqy.config import ConfigError as SettingsError
    from runqy.core.queue_configs import ConfigDirError
    from runqy.embedded_redis import EmbeddedRedisError
    from runqy.instance_lock import InstanceLockedError, lock_instance
    from runqy.web import bootstrap
    from runqy.web.serving import (
        ListenError,
        WorkerExitedError,
        hold_stop_signals,
        listen,
        serve,
        take_stop_signals,
    )
    from runqy.web.state import state_of

    # The instance folder's files (database, AOF, keys) are private to the server's user.
    os.umask(0o077)
    # Lock the folder and bind the port before starting anything (the embedded Redis above
    # all): either failure is then one line and exit status 1, with nothing to undo.
    try:
        lock_instance(settings.instance_dir)  # held (descriptor left open) until exit
        listeners = listen(settings.host, settings.port)
    except (InstanceLockedError, ListenError) as exc:
        raise click.ClickException(str(exc)) from None
    watchers = []

    def start_watcher() -> None:
        if settings.watch and settings.config_dir is not None:
            from runqy.web.config_watch import ConfigWatcher

            watchers.append(ConfigWatcher(booted.app, settings.config_dir))
            watchers[0].start()

    # From here on, during start-up too (where dying outright would leave the embedded Redis,
    # in its own session, running), SIGINT and SIGTERM stop the server cleanly.
    take_stop_signals()
    try:
        booted = bootstrap(settings)
    except (EmbeddedRedisError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    except ConfigDirError as exc:
        raise click.ClickException("invalid queue configuration: " + "; ".join(exc.problems)) \
            from None

    try:
        click.echo(banner(booted.app), err=False)
        sys.stdout.flush()
        serve(booted.app, settings, listeners, start_watcher)
    except KeyboardInterrupt:
        pass  # waitress returns by itself on most signals; both paths end below
    except WorkerExitedError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        hold_stop_signals()
        click.echo("runqy: shutting down")
        for watcher in watchers:
            watcher.stop()
        state_of(booted.app).close()  # before its Redis goes away
        if booted.embedded is not None:
            booted.embedded.stop()


def banner(app: Any) -> str:
    """The start-up banner: URLs, instance, Redis, database, vaults, queues, admin key."""
    from runqy.core.models import QueueConfig
    from runqy.web.extensions import db
    from runqy.web.models import AdminUser
    from runqy.web.setup_token import ensure_setup_token, token_path
    from runqy.web.state import state_of

    state = state_of(app)
    settings: Settings = state.settings
    wildcard = settings.host in ("0.0.0.0", "::", "127.0.0.1")  # noqa: S104 - display only
    shown_host = "localhost" if wildcard else settings.host
    base = f"http://{shown_host}:{settings.port}{settings.url_prefix.rstrip('/')}"
    if settings.redis_embedded:
        redis_line = (f"embedded 127.0.0.1:{settings.embedded_redis_port}, "
                      f"data in {settings.instance_dir / 'redis'}")
    else:
        redis_line = mask_url_password(settings.redis_connection_url())
    if settings.database_kind == "sqlite":
        db_line = f"sqlite {settings.sqlite_file}"
    else:
        db_line = "postgresql " + mask_url_password(settings.database_uri())
    with app.app_context():
        queue_count = db.session.query(QueueConfig).filter_by(enabled=True).count()
        admin_exists = db.session.query(AdminUser.id).limit(1).first() is not None
    secrets = state.secrets
    if secrets.admin_key_generated:
        key_line = (f"{secrets.admin_key}\n               (generated now and stored in "
                    f"{secrets.admin_key_file}; it is shown only once)")
    elif secrets.admin_key_file is not None:
        key_line = f"{mask_secret(secrets.admin_key)} (from {secrets.admin_key_file})"
    else:
        key_line = f"{mask_secret(secrets.admin_key)} (from RUNQY_API_KEY)"
    lines = [
        f"runqy {__version__} listening on {base}",
        f"  dashboard:   {'disabled (--no-ui)' if settings.no_ui else base + '/monitoring'}",
        f"  API docs:    {base}/docs",
        f"  metrics:     {base}/metrics",
        f"  instance:    {settings.instance_dir}",
        f"  redis:       {redis_line}",
        f"  database:    {db_line}",
        f"  vaults:      {'on' if state.cipher else 'off (RUNQY_VAULT_MASTER_KEY unset)'}",
        f"  read-only:   {'on' if settings.read_only else 'off'}",
        f"  queues:      {queue_count} configured",
        f"  admin key:   {key_line}",
    ]
    if not settings.no_ui and not admin_exists:
        # Whoever opens this URL first creates the admin account: it carries a one-time token.
        lines.append(f"  setup:       {base}/monitoring/setup?token="
                     f"{ensure_setup_token(settings)}\n               (no admin yet; one-time "
                     f"setup token, also in {token_path(settings)})")
    if settings.api_key and len(settings.api_key) < 16:
        lines.append("  warning:     RUNQY_API_KEY is shorter than 16 characters")
    return "\n".join(lines)


def _attach_subcommands() -> None:
    """Commands owned by other packages; attached here so `runqy --help` lists them."""
    from runqy import operator

    main.lazy["admin"] = "runqy.admin_cli:admin"  # imported when used, as the operator's
    operator.register(main)  # `worker` included: the worker process plus `list` and `info`


_attach_subcommands()
