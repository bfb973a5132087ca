"""Domain exceptions raised by the core layer.

Each carries a stable ``code`` (the API's error code) and messages for a person. The kind of
failure is the class; the web layer maps classes to HTTP statuses in one table
(:data:`runqy.web.errors.DOMAIN_STATUS`), the CLI maps them to one stderr line and exit 1.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: an expected failure a caller can act on."""

    default_code = "invalid_request"

    def __init__(self, *messages: str, code: str | None = None) -> None:
        self.code = code or self.default_code
        self.messages = list(messages) or [self.code.replace("_", " ")]
        super().__init__(self.messages[0])


class InvalidInput(DomainError):
    """The request is malformed: wrong type, unknown field, out of bounds."""


class InvalidConfig(DomainError):
    """A queue configuration is well-formed but breaks a rule (422 in the API)."""

    default_code = "invalid_config"


class NotFound(DomainError):
    """The named thing does not exist (``code`` names which: ``vault_not_found``, ...)."""

    default_code = "not_found"


class Conflict(DomainError):
    """The operation conflicts with the current state (``vault_in_use``, ...)."""

    default_code = "conflict"


class Unavailable(DomainError):
    """A dependency cannot serve the operation right now (``vaults_unavailable``, ...)."""

    default_code = "unavailable"
