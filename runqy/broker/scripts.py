"""Loading and calling the Lua scripts in ``lua/``: loaded once, called by SHA.

Every script is the shared prelude ``lua/_lib.lua`` followed by its own file, so helpers such
as counter bumps exist once. A script is sent with ``SCRIPT LOAD`` the first time the server
answers NOSCRIPT (new server, restart, ``SCRIPT FLUSH``), then called by SHA again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.exceptions import NoScriptError

_LUA = resources.files("runqy.broker") / "lua"
_PRELUDE_NAME = "_lib.lua"

KeysOrArgs = Sequence[str | bytes | int]


@dataclass(frozen=True)
class Script:
    name: str
    source: bytes
    sha: str


def _load(name: str) -> Script:
    prelude = (_LUA / _PRELUDE_NAME).read_bytes()
    source = prelude + b"\n" + (_LUA / f"{name}.lua").read_bytes()
    return Script(name, source, hashlib.sha1(source, usedforsecurity=False).hexdigest())


SCRIPTS: dict[str, Script] = {
    path.name.removesuffix(".lua"): _load(path.name.removesuffix(".lua"))
    for path in _LUA.iterdir()
    if path.name.endswith(".lua") and path.name != _PRELUDE_NAME
}


def run(client: redis.Redis, name: str, keys: KeysOrArgs, args: KeysOrArgs) -> Any:
    """EVALSHA the script; on NOSCRIPT load it and call it again."""
    script = SCRIPTS[name]
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(script.source)
        return client.evalsha(script.sha, len(keys), *keys, *args)


@dataclass
class _Pending:
    index: int
    name: str
    keys: KeysOrArgs
    args: KeysOrArgs


class ScriptPipeline:
    """A non-transactional pipeline that may hold script calls.

    Results come back in call order. Script calls that hit NOSCRIPT are re-run directly after
    loading the script: a NOSCRIPT reply means the call wrote nothing, so re-running it keeps the
    effect of exactly one call.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pipe = client.pipeline(transaction=False)
        self._scripts: list[_Pending] = []
        self._count = 0

    def command(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue a plain redis-py command, e.g. ``command("sadd", key, member)``."""
        getattr(self._pipe, method)(*args, **kwargs)
        self._count += 1

    def script(self, name: str, keys: KeysOrArgs, args: KeysOrArgs) -> int:
        """Queue a script call; returns its position in ``execute()``'s result list."""
        script = SCRIPTS[name]
        self._pipe.evalsha(script.sha, len(keys), *keys, *args)
        self._scripts.append(_Pending(self._count, name, keys, args))
        self._count += 1
        return self._count - 1

    def execute(self) -> list[Any]:
        results = self._pipe.execute(raise_on_error=False)
        for call in self._scripts:
            if isinstance(results[call.index], NoScriptError):
                results[call.index] = _rerun(self._client, call)
        return results


def _rerun(client: redis.Redis, call: _Pending) -> Any:
    try:
        return run(client, call.name, call.keys, call.args)
    except redis.ResponseError as exc:
        return exc
