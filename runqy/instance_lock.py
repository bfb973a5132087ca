"""One `runqy serve` per instance folder: an exclusive flock on `<instance>/serve.lock`.

A second server on the same folder would start a second embedded Redis on the same AOF and
write the same SQLite file. The lock is taken before anything starts and is released by the
kernel when the process (and its forked workers) ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from runqy.config import ensure_instance_dir

LOCK_FILE = "serve.lock"


class InstanceLockedError(RuntimeError):
    """Another process holds the instance folder."""


def lock_instance(instance_dir: Path) -> int:
    """Take the folder's lock, or raise InstanceLockedError naming the holder's pid.
    Returns the descriptor, which must stay open for the life of the server."""
    ensure_instance_dir(instance_dir)
    fd = os.open(instance_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise InstanceLockedError(
            f"another runqy serve (pid {holder}) is already using the instance folder "
            f"{instance_dir}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
