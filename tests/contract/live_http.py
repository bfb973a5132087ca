"""JSON requests to a live waitress server (`live_server`), as a remote client sends them."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.server.conftest import ADMIN_KEY


def call(server: Any, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)
    try:
        connection.request(method, path, body=data, headers={
            "Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()
