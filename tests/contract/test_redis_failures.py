"""A Redis connection lost mid-enqueue is a 503 `redis_unavailable` (http-api.md 3 and 5.3:
"If Redis fails during the pipeline the answer is 503"), never a 500 `internal_error`."""

from __future__ import annotations

import pytest

from tests.broker.proxy import CuttingProxy
from tests.server.conftest import ADMIN, configure


@pytest.mark.parametrize("path, body", [
    ("/queue/add", {"queue": "imgs", "data": {"n": 1}}),
    ("/queue/add-batch", {"queue": "imgs", "jobs": [{"n": 1}, {"n": 2}]}),
])
def test_connection_cut_before_the_enqueue_reply_is_a_503(make_app, redis_server, redis_client,
                                                          path, body):
    with CuttingProxy(redis_server.port, 0, start=b"EVALSHA", first=False) as proxy:
        client = make_app(redis_url=f"redis://127.0.0.1:{proxy.port}/0").test_client()
        configure(client, "imgs")
        response = client.post(path, headers=ADMIN, json=body)
        assert proxy.cut.is_set()
    assert response.status_code == 503, response.json
    assert response.json["code"] == "redis_unavailable"
