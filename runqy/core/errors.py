"""Domain exceptions raised by the core layer.

Each carries a stable ``code`` (the API's error code) and messages for a person. The kind of
failure is the class, mapped to the API's HTTP status in one table (:data:`DOMAIN_STATUS`),
which the web layer answers with and the CLI shows on its one stderr line (exit 1).
"""

from __future__ import annotations

from runqy.broker import errors as broker_errors


class DomainError(Exception):
    """Base class: an expected failure a caller can act on."""

    default_code = "invalid_request"

    def __init__(self, *messages: str, code: str | None = None) -> None:
        self.code = code or self.default_code
        self.messages = list(messages) or [self.code.replace("_", " ")]
        super().__init__(self.messages[0])


class InvalidInput(DomainError):
    """The request is malformed: wrong type, unknown field, out of bounds."""


class Unprocessable(DomainError):
    """Well-formed input that breaks a rule: a payload failing its queue's input schema
    (``schema_validation_failed``)."""

    default_code = "unprocessable"


class InvalidConfig(Unprocessable):
    """A queue configuration or vault name is well-formed but breaks a rule."""

    default_code = "invalid_config"


class NotFound(DomainError):
    """The named thing does not exist; ``code`` says which kind of thing: ``queue_not_found``,
    ``task_not_found``, ``worker_not_found``, ``queue_config_not_found``, ``vault_not_found``,
    ``vault_entry_not_found``."""


class Conflict(DomainError):
    """The operation conflicts with the current state (``vault_in_use``, ``queue_not_empty``,
    ``task_state_conflict``, ``duplicate_task``, ...)."""


class Unavailable(DomainError):
    """A dependency cannot serve the operation right now: vaults without a master key, a value
    the key cannot decrypt, Redis lost mid-write."""


class TooLarge(DomainError):
    """The request asks for more than one call may carry (``batch_too_large``,
    ``payload_too_large``)."""


class Busy(DomainError):
    """Too many such operations are running (``too_many_waiters``); retry after
    ``retry_after`` seconds."""

    retry_after = 1


class TimedOut(DomainError):
    """The awaited outcome did not happen in time (``wait_timeout``)."""


# Domain exception class -> the API's HTTP status; the code and messages are the exception's
# own. The API answers with it, the dashboard's error pages and the CLI's local mode show it.
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 400),
    (Unprocessable, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
    (TooLarge, 413),
    (Busy, 429),
    (TimedOut, 408),
)


def domain_error_status(exc: DomainError) -> int:
    """The status the API answers a domain error with (400 for an unlisted subclass)."""
    for cls, status in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return status
    return 400


# Broker exception -> (domain class, code); the message is the exception's own text. The API,
# the dashboard and the CLI all report broker failures through this one table.
BROKER_ERRORS: tuple[tuple[type[Exception], type[DomainError], str], ...] = (
    (broker_errors.QueueNotFoundError, NotFound, "queue_not_found"),
    (broker_errors.TaskNotFoundError, NotFound, "task_not_found"),
    (broker_errors.WorkerNotFoundError, NotFound, "worker_not_found"),
    (broker_errors.TaskIdConflictError, Conflict, "task_id_conflict"),
    (broker_errors.DuplicateTaskError, Conflict, "duplicate_task"),
    (broker_errors.TaskStateError, Conflict, "task_state_conflict"),
    (broker_errors.QueueNotEmptyError, Conflict, "queue_not_empty"),
    (broker_errors.QueueBusyError, Conflict, "queue_busy"),
    # The connection dropped before Redis answered: a dependency failure, not a bug.
    (broker_errors.TaskOutcomeUnknownError, Unavailable, "redis_unavailable"),
)


def translated(exc: Exception) -> DomainError | None:
    """The domain error a broker exception stands for, or None for an unexpected one."""
    for cls, domain_cls, code in BROKER_ERRORS:
        if isinstance(exc, cls):
            return domain_cls(str(exc), code=code)
    return None
