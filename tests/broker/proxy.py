"""A loopback TCP relay to a real Redis that can drop a connection part-way through its replies.

Used to test what the broker reports when the connection dies mid-batch: on the first
connection, once ``reply_bytes`` bytes of replies went through after the first request holding
``start`` (replies to the connection handshake before it do not count), Redis' side is closed
and the client sees the end of the stream; later connections are relayed in full. With
``first=False`` the connection cut is instead the first one to send a request holding ``start``
(a pooled connection may set things up before a connection the code holds sends ``start``).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    def __init__(self, redis_port: int, reply_bytes: int, start: bytes, *,
                 first: bool = True) -> None:
        self.redis_port = redis_port
        self.reply_bytes = reply_bytes
        self.start = start
        self.counting = threading.Event()
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._cut_first = first
        self._accepted = 0
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> CuttingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        _close(self._listener)  # shutdown wakes the blocked accept()
        for sock in self._sockets:
            _close(sock)
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            server = socket.create_connection(("127.0.0.1", self.redis_port))
            self._sockets += [client, server]
            chosen = threading.Event()  # this connection is the one cut
            if self._cut_first and not self._accepted:
                chosen.set()
            self._accepted += 1
            self._spawn(self._pipe, client, server, None, chosen)
            self._spawn(self._pipe, server, client, self.reply_bytes, chosen)

    def _pipe(self, source: socket.socket, target: socket.socket, limit: int | None,
              chosen: threading.Event) -> None:
        """Relay one direction; replies with a limit end in a clean FIN after ``limit`` bytes.

        After the cut, requests are read and discarded rather than refused: closing a socket
        with unread input sends a reset, which would make the client drop replies it already
        has in its buffer.
        """
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is None and self.start in data:
                    with self._lock:  # the handshake's replies were all relayed before
                        if not self.counting.is_set():
                            if not self._cut_first:
                                chosen.set()
                            self.counting.set()
                counting = chosen.is_set() and self.counting.is_set()
                if limit is not None and counting and sent + len(data) >= limit:
                    target.sendall(data[: limit - sent])
                    self.cut.set()
                    target.shutdown(socket.SHUT_WR)
                    _close(source)
                    return
                try:
                    target.sendall(data)
                except OSError:
                    if limit is None and self.cut.is_set():
                        continue  # requests after the cut go nowhere
                    raise
                if chosen.is_set() and self.counting.is_set():
                    sent += len(data)
        except OSError:
            pass  # the other direction closed the pair
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
