"""The connection limits of `runqy serve`, per server process.

They live apart from runqy.web.serving so that `runqy serve --help` can state them without
importing Flask and waitress.
"""

# Connection limits, per server process (`serve --help` and the README state them).
# Open connections before the longest-idle one of the address holding the most is closed to
# make room: an idle or half-sent connection costs no thread, only a descriptor and a buffer.
MAX_CONNECTIONS = 1000
# waitress stops accepting at its own limit; it is only reached when every connection has a
# request in progress (the eviction above never closes one of those).
HARD_CONNECTION_LIMIT = 1200
# Seconds a request may take to arrive (from its first byte, or from the connection's
# opening) before its headers are complete, and seconds of silence allowed within its body.
REQUEST_TIMEOUT = 10
# Seconds an idle keep-alive connection stays open. A request in progress (a long-poll waits
# up to 120 s) is never cut: waitress only times out connections with no request running.
KEEPALIVE_TIMEOUT = 30
# Connections the kernel queues for accept() (waitress's default).
LISTEN_BACKLOG = 1024
# Seconds between two checks of these timeouts.
CLEANUP_INTERVAL = 1
# Request header bytes accepted (waitress's default, 256 KiB, times 1,000 connections is too
# much memory to let a stranger claim).
MAX_HEADER_BYTES = 65536

LIMITS_HELP = (
    f"Per server process: at most {MAX_CONNECTIONS} open connections (beyond that the "
    "longest-idle connection of the client address holding the most is closed); a request "
    f"must send its headers within {REQUEST_TIMEOUT} s and may not pause its body longer "
    f"than {REQUEST_TIMEOUT} s; idle keep-alive connections close after {KEEPALIVE_TIMEOUT} s; "
    f"request headers up to {MAX_HEADER_BYTES // 1024} KiB."
)
