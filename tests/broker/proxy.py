"""A loopback TCP relay to a real Redis that can drop a connection part-way through its replies.

Used to test what the broker reports when the connection dies mid-batch: on the first
connection, once ``reply_bytes`` bytes of replies went through after the first request holding
``start`` (replies to the connection handshake before it do not count), Redis' side is closed
and the client sees the end of the stream; later connections are relayed in full.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    def __init__(self, redis_port: int, reply_bytes: int, start: bytes) -> None:
        self.redis_port = redis_port
        self.reply_bytes = reply_bytes
        self.start = start
        self.counting = threading.Event()
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._first = True
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
            limit = self.reply_bytes if self._first else None
            self._first = False
            self._spawn(self._pipe, client, server, None)
            self._spawn(self._pipe, server, client, limit)

    def _pipe(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        """Relay one direction; replies with a limit end in a clean FIN after ``limit`` bytes.

        After the cut, requests are read and discarded rather than refused: closing a socket
        with unread input sends a reset, which would make the client drop replies it already
        has in its buffer.
        """
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is None and self.start in data:
                    self.counting.set()  # the handshake's replies were all relayed before
                if limit is not None and self.counting.is_set() and sent + len(data) >= limit:
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
                if self.counting.is_set():
                    sent += len(data)
        except OSError:
            pass  # the other direction closed the pair
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
