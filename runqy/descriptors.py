"""The soft open-files limit of this process, raised towards what it is about to need.

Shared by `runqy serve` (connections) and `runqy worker` (task process pipes); it lives apart
from both so that neither imports the other.
"""

from __future__ import annotations

import resource


def raise_open_files_limit(wanted: int) -> None:
    """Lift the soft RLIMIT_NOFILE (often 1,024) to ``wanted``, never above the hard limit and
    never down."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def open_files_limit() -> int:
    """The soft limit now (RLIM_INFINITY when there is none)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
