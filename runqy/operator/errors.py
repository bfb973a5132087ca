"""How an operator command fails: one line on stderr, `error: <what> (<status> <code>)`, exit 1.

Usage mistakes stay click's (exit 2). The same failure reads the same in both modes: a remote
error carries the server's status and code, a local one the status the API would have given.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported only by local mode and `config validate`
    from runqy.core.errors import DomainError


class OperatorError(click.ClickException):
    """A failure the user can act on; never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        if code:
            message = f"{message} ({status} {code})" if status else f"{message} ({code})"
        super().__init__(message)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def from_domain(exc: DomainError) -> OperatorError:
    """A core domain error, worded as the API would answer it."""
    from runqy.core.errors import domain_error_status

    return OperatorError("; ".join(exc.messages), domain_error_status(exc), exc.code)
