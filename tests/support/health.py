"""Whether a runqy server on a loopback port answers /health (for tests that start one)."""

from __future__ import annotations

import urllib.request


def answers_health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False
