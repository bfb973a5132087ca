"""A real waitress server for tests, run in a daemon thread and stopped cleanly."""

from __future__ import annotations

import threading
from typing import Any


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
        """Close every socket from inside the server's own loop, which then ends on its own.

        Closing them from this thread instead (`server.close()`) pulls the descriptors out from
        under the loop's poll() and kills its thread with "Bad file descriptor".
        """
        server = self.server

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.close()

        server.trigger.pull_trigger(close_all)
        self.thread.join(timeout)
        server.task_dispatcher.shutdown()
