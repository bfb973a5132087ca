"""The operator commands of `runqy`: queues, tasks, workers, configs, vaults, saved logins
and shell completion, with the Go CLI's names, flags and arguments.

Each command group has its module; they all talk to a backend (`context.Options.backend`):
`remote.RemoteBackend` (the REST API) when a server is known, else `local.LocalBackend` (the
instance's Redis and database through runqy.core). `runqy.cli` attaches them with `register`;
each module is imported only when its command runs.
"""

from __future__ import annotations

import click

from runqy.operator.lazy import LazyGroup


def _synopsis(path: str, command: click.Command) -> str:
    """`queue delete QUEUE [--force]`: the command line a user types, options included."""
    parts = [path]
    # The global options are added to every operator command without a value of their own.
    options = [p for p in command.params if isinstance(p, click.Option) and p.expose_value]
    if len(options) > 6:  # `serve`: its own --help lists them
        return f"{path} [OPTIONS]"
    for param in command.params:
        if isinstance(param, click.Argument):
            name = param.human_readable_name
            parts.append(name if param.required else f"[{name}]")
        elif param in options:
            flag = min(param.opts, key=len)
            text = flag if param.is_flag else f"{flag} {param.metavar or param.name.upper()}"
            parts.append(text if param.required else f"[{text}]")
    return " ".join(parts)


def command_lines(group: click.Group, prefix: str = "") -> list[str]:
    """One synopsis line per leaf command under `group`."""
    lines = []
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        if command is None or command.hidden:
            continue
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            lines.extend(command_lines(command, path + " "))
        else:
            lines.append(_synopsis(path, command))
    return lines


COMMANDS = {
    "login": "runqy.operator.auth:login",
    "logout": "runqy.operator.auth:logout",
    "auth": "runqy.operator.auth:auth",
    "queue": "runqy.operator.queues:queue",
    "task": "runqy.operator.tasks:task",
    "worker": "runqy.operator.workers:worker_group",
    "config": "runqy.operator.configs:config",
    "vault": "runqy.operator.vaults:vault",
    "completion": "runqy.operator.completion:completion",
}


def every_command(main: click.Group) -> str:
    """The help's epilog: every command line, so `runqy --help` names them all."""
    return ("\b\nEvery command (global options go before or after it; `runqy` alone runs "
            "`serve`):\n" + "\n".join(f"  runqy {line}" for line in command_lines(main)))


def register(main: LazyGroup) -> None:
    """Attach the operator commands to `main` (imported when used) and list every command in
    its help."""
    main.lazy.update(COMMANDS)
    main.epilog_of = every_command
