"""A click group whose subcommands are imported when first used, so `runqy queue list` does not
import the server, the dashboard or the worker (a command starts in a fraction of the time)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click


class LazyGroup(click.Group):
    """`lazy` maps a command name to `"module:attribute"`: a click command, or a function that
    builds one. `epilog_of`, when set, writes the help's epilog from the loaded group."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}
        self.epilog_of: Callable[[click.Group], str] | None = None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attribute = self.lazy.pop(cmd_name).partition(":")
            loaded = getattr(importlib.import_module(module), attribute)
            self.add_command(loaded if isinstance(loaded, click.Command) else loaded(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog_of is not None:
            self.epilog = self.epilog_of(self)
        super().format_epilog(ctx, formatter)
