"""Task states and which admin action applies to which state: the one table for the core, the
API's validation, the dashboard's buttons, the OpenAPI enums and the metrics collector.

The rules are asynq's (wire-format.md 6.5, http-api.md 7.2): an active task can only be
cancelled; archiving an archived task is a no-op reported as success; a completed task can be
run again or archived one at a time, while the bulk actions on completed tasks only delete.
"""

from __future__ import annotations

from collections.abc import Sequence

TASK_STATES = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")
# The states the API and the dashboard list (aggregating tasks are shown per group)
LISTED_STATES = TASK_STATES[:6]
LIST_STATES = ("pending", "active")  # kept in Redis lists; the others in sorted sets
ZSET_STATES = ("scheduled", "retry", "archived", "completed")
ACTIONS = ("run", "archive", "delete", "cancel")

TASK_ACTIONS: dict[str, tuple[str, ...]] = {
    "pending": ("archive", "delete"),
    "active": ("cancel",),
    "scheduled": ("run", "archive", "delete"),
    "retry": ("run", "archive", "delete"),
    "archived": ("run", "delete"),
    "completed": ("run", "archive", "delete"),
    "aggregating": ("run", "archive", "delete"),
}

BULK_ACTIONS: dict[str, tuple[str, ...]] = {
    **TASK_ACTIONS,
    "completed": ("delete",),
}

PAST_TENSE = {"run": "run", "archive": "archived", "delete": "deleted", "cancel": "cancelled"}


def bulk_states(action: str, states: Sequence[str] = TASK_STATES) -> tuple[str, ...]:
    """The states among ``states`` whose tasks ``action`` applies to in bulk."""
    return tuple(s for s in states if action in BULK_ACTIONS[s])
