"""The global options (`-s`, `-k`, `--redis-uri`, `-o`), which backend a command talks to, and
the one place where failures become one-line errors.

Server: `-s/--server`, then `RUNQY_SERVER`, then the current saved login. Key: `-k/--api-key`,
then `RUNQY_API_KEY`, then the saved login of that server. The variables come from the
environment, else from `.env` in the working directory (as for `runqy serve`, and as the Go CLI
reads them). No server at all means local mode.
As with the Go CLI's persistent flags, the global options are accepted before the command and
after it (`runqy queue list -o json`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from runqy.operator.errors import OperatorError, from_domain
from runqy.operator.output import FORMATS, JSON, notice, print_json
from runqy.operator.profiles import Profile, Profiles


def variable(name: str) -> tuple[str | None, str]:
    """(value, where it came from): the environment, else `.env` in the working directory."""
    if os.environ.get(name):
        return os.environ[name], name
    from runqy.config import read_dotenv

    value = read_dotenv(Path.cwd() / ".env").get(name)
    return (value, f"{name} in .env") if value else (None, name)


@dataclass
class Options:
    server: str | None = None
    api_key: str | None = None
    redis_uri: str | None = None
    output: str | None = None
    _backend: Any = None

    @property
    def json(self) -> bool:
        return self.output == JSON

    def target(self) -> tuple[str | None, str, Profile | None]:
        """(server URL or None, where it came from, the saved login it matches)."""
        profiles = Profiles.load()
        from_env, env_source = variable("RUNQY_SERVER")
        if self.server:
            url, source = self.server, "--server"
        elif from_env:
            url, source = from_env, env_source
        elif profiles.active() is not None:
            profile = profiles.active()
            return profile.url, f"saved login '{profile.name}'", profile
        else:
            return None, "none", None
        same = [p for p in profiles.servers.values() if p.url.rstrip("/") == url.rstrip("/")]
        return url, source, (same[0] if same else None)

    def key(self, profile: Profile | None) -> tuple[str | None, str]:
        """(API key or None, where it came from)."""
        if self.api_key:
            return self.api_key, "--api-key"
        from_env, env_source = variable("RUNQY_API_KEY")
        if from_env:
            return from_env, env_source
        if profile is not None and profile.api_key:
            return profile.api_key, f"saved login '{profile.name}'"
        return None, "none"

    def backend(self) -> Any:
        """The remote API when a server is known, else the local instance (said on stderr)."""
        if self._backend is None:
            url, _, profile = self.target()
            if url:
                from runqy.operator.remote import RemoteBackend

                self._backend = RemoteBackend(url, self.key(profile)[0])
            else:
                from runqy.operator.local import LocalBackend, local_settings

                self._backend = LocalBackend(local_settings(self.redis_uri))
                notice(f"runqy: no server given (-s, RUNQY_SERVER or `runqy login`); "
                       f"working on the local instance directly ({self._backend.where})")
            click.get_current_context().find_root().call_on_close(self._backend.close)
        return self._backend


def options() -> Options:
    ctx = click.get_current_context()
    found = ctx.find_object(Options)
    if found is None:
        found = ctx.find_root().ensure_object(Options)
    return found


def _setter(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            setattr(ctx.find_root().ensure_object(Options), name, value)

    return store


GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], str, dict[str, Any]], ...] = (
    (("-s", "--server"), "server",
     {"metavar": "URL", "help": "Server URL [env: RUNQY_SERVER; default: the saved login]."}),
    (("-k", "--api-key"), "api_key",
     {"metavar": "KEY", "help": "Admin API key [env: RUNQY_API_KEY; default: the saved login]."}),
    (("--redis-uri",), "redis_uri",
     {"metavar": "URI", "help": "Redis of the local instance (local mode; serve: its Redis)."}),
    (("-o", "--output"), "output",
     {"type": click.Choice(FORMATS), "help": "table (default) or json."}),
)


def global_options(command: Any, names: tuple[str, ...] | None = None) -> Any:
    """Accept the global options (or only `names`) on a subcommand too; they override the
    ones given before it."""
    for flags, name, extra in reversed(GLOBAL_OPTIONS):
        if names is not None and name not in names:
            continue
        command = click.option(*flags, name, default=None, expose_value=False, is_eager=True,
                               callback=_setter(name), **extra)(command)
    return command


def emit(data: Any, render: Callable[[Any], None]) -> None:
    """`-o json`: the data as JSON; otherwise the command's own rendering."""
    if options().json:
        print_json(data)
    else:
        render(data)


def _is(exc: BaseException, module: str, name: str) -> bool:
    """isinstance against a class of a module that is only imported in local mode: when the
    module was never imported, nothing can be an instance of its classes."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def failures() -> Iterator[None]:
    """Expected failures of any operation as OperatorError (one line, exit 1)."""
    try:
        yield
    except Exception as exc:
        if _is(exc, "runqy.core.errors", "DomainError"):
            raise from_domain(exc) from None
        if _is(exc, "redis", "RedisError"):
            raise OperatorError(f"Redis did not answer ({type(exc).__name__}: "
                                f"{_first_line(exc)})") from None
        if _is(exc, "sqlalchemy.exc", "SQLAlchemyError"):
            raise OperatorError(f"database error: {_first_line(exc)}") from None
        raise


class OperatorGroup(click.Group):
    """A command group whose commands take the global options and fail in one line."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        decorator = super().command(*args, **kwargs)

        def wrap(f: Any) -> Any:
            return decorator(global_options(f))

        return wrap

    def invoke(self, ctx: click.Context) -> Any:
        with failures():
            return super().invoke(ctx)
