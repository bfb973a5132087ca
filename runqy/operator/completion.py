"""`runqy completion bash|zsh|fish`: the shell completion script, from click's own support."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash: eval "$(runqy completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(runqy completion zsh)"    (in ~/.zshrc)
    fish: runqy completion fish > ~/.config/fish/completions/runqy.fish
    """
    root = ctx.find_root()
    completer = get_completion_class(shell)
    assert completer is not None  # every SHELLS entry is one click supports
    script = completer(root.command, {}, "runqy", "_RUNQY_COMPLETE").source()
    click.echo(script)
