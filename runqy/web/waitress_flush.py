"""A waitress speed-up that leans on its channel's internals: no main-loop busy-wait while a
task thread writes its answer.

A task thread flushes its own output as it writes it. Between appending to the output buffer
and sending it, the buffer is non-empty, so waitress's stock `HTTPChannel.writable()` makes the
main loop poll, fail to take the task's lock and poll again: measured at 25-40 loop turns and
~500 µs of CPU per API request under load (bench/README.md), in the thread every request
needs. While a task runs, the main loop now waits for its end (the task wakes it) unless the
backlog grows past `HELP_FLUSH_BYTES` (a slow client: then it helps as before).

It reads `total_outbufs_len`, `requests`, `will_close` and `close_when_flushed`, which waitress
does not promise; pyproject.toml pins waitress <3.1 and tests/server/test_library_internals.py
fails naming any that disappears.
"""

from __future__ import annotations

from waitress.channel import HTTPChannel


class NoBusyWaitChannel(HTTPChannel):
    HELP_FLUSH_BYTES = 65536

    def writable(self) -> bool:
        pending = self.total_outbufs_len
        if (pending and pending < self.HELP_FLUSH_BYTES and self.requests
                and not self.will_close and not self.close_when_flushed):
            return False
        return bool(super().writable())
