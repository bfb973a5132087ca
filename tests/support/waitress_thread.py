"""A real waitress server for tests, run in a daemon thread and stopped cleanly."""

from __future__ import annotations

import threading
from typing import Any

from waitress import wasyncore


class ServingThread:
    """Runs `server` (a waitress server object) until `stop()`."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.run, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.effective_port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5) -> None:
        """Close every socket from inside the server's own loop, which then ends on its own;
        close the loop's trigger last, once no thread pulls it any more.

        Closing the sockets from this thread instead (`server.close()`) pulls the descriptors
        out from under the loop's poll() and kills its thread with "Bad file descriptor". The
        trigger's pipe must outlive the loop: `pull_trigger(thunk)` adds the thunk, then writes
        its byte, and in between the loop, woken by another pull (a task thread finishing a
        response), may run the thunk; a thunk that closed the pipe made that write fail with
        EBADF, or land in whatever file reused the descriptor. Task threads pull it too until
        they end.
        """
        server = self.server
        trigger = server.trigger

        def close_all() -> None:
            for channel in list(server._map.values()):
                if channel is trigger:
                    trigger.del_channel()  # out of the loop, still open
                else:  # the server's own close() would close the trigger too
                    wasyncore.dispatcher.close(channel)

        trigger.pull_trigger(close_all)
        self.thread.join(timeout)
        server.task_dispatcher.shutdown()
        trigger.close()
