"""A client-chosen task ID reused in another queue (wire-format.md 6.1: "an existing task's
lookup is never overwritten"): `GET /queue/<id>` keeps answering for the task it named first."""

from __future__ import annotations

from tests.server.conftest import ADMIN, configure


def test_reusing_a_task_id_in_another_queue_keeps_the_first_lookup(client, redis_client):
    configure(client, "imgs", sub_queues=[{"name": "default", "priority": 1},
                                          {"name": "other", "priority": 1}])
    for queue, n in (("imgs.default", 1), ("imgs.other", 2)):
        response = client.post("/queue/add", headers=ADMIN,
                               json={"queue": queue, "data": {"n": n}, "task_id": "job-7"})
        assert response.status_code == 200, response.json
    assert redis_client.hget("asynq:t:job-7", "queue") == b"imgs.default"
    info = client.get("/queue/job-7", headers=ADMIN).json["info"]
    assert (info["queue"], info["payload"]) == ("imgs.default", {"n": 1})
    # the second task stays reachable through its queue
    other = client.get("/api/queues/imgs.other/tasks/job-7", headers=ADMIN)
    assert other.status_code == 200 and other.json["payload"] == {"n": 2}
