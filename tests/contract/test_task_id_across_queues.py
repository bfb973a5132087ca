"""A client-chosen task ID reused in another queue: `GET /queue/<id>` (which probes the queues,
wire-format.md 7.1) answers for the task of the first queue by name, the others stay reachable
through their queue."""

from __future__ import annotations

from tests.server.conftest import ADMIN, configure


def test_reusing_a_task_id_in_another_queue_answers_the_first_queue_by_name(client, redis_client):
    configure(client, "imgs", sub_queues=[{"name": "default", "priority": 1},
                                          {"name": "other", "priority": 1}])
    for queue, n in (("imgs.default", 1), ("imgs.other", 2)):
        response = client.post("/queue/add", headers=ADMIN,
                               json={"queue": queue, "data": {"n": n}, "task_id": "job-7"})
        assert response.status_code == 200, response.json
    info = client.get("/queue/job-7", headers=ADMIN).json["info"]
    assert (info["queue"], info["payload"]) == ("imgs.default", {"n": 1})
    # the second task stays reachable through its queue
    other = client.get("/api/queues/imgs.other/tasks/job-7", headers=ADMIN)
    assert other.status_code == 200 and other.json["payload"] == {"n": 2}
