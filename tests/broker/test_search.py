"""The bounded task search: what it matches, in which fields and states, and that a search
stopped by its budget resumes from its cursor without losing or repeating a match."""

from __future__ import annotations

import time

from runqy.broker import Inspector, keys
from runqy.broker.search import CHUNK, SearchCursor, search
from tests.broker.factories import task
from tests.dashboard.archive_fill import fill_archived, task_id


def test_error_text_in_many_chunks_resumed_from_the_cursor(redis_client):
    count = 3 * CHUNK + 17
    special = [0, CHUNK - 1, CHUNK, 2 * CHUNK + 5, count - 1]
    wanted = fill_archived(redis_client, "bulk", count, special, "Disk Quota Exceeded")
    found, cursor, steps = [], None, 0
    while True:
        # a budget of zero stops after every chunk: each step resumes where the last stopped
        step = search(Inspector(redis_client), ["bulk"], ["retry", "archived"], "quota",
                      cursor=cursor, budget=0)
        found += [m.id for m in step.matches]
        cursor, steps = SearchCursor.parse(step.cursor.token()), steps + 1
        if step.done:
            break
    assert sorted(found) == sorted(wanted)
    assert steps >= 4 and step.cursor.scanned == step.total == count
    assert {m.error_msg for m in step.matches} <= {"Disk Quota Exceeded"}


def test_fields_states_and_queues(broker, redis_client):
    pending = task("job-a", "alpha", type="thumbnail.make", payload=b'{"file": "cat.png"}')
    broker.enqueue(pending)
    failing = task("job-b", "beta", type="mail.send", payload=b'{"to": "x@example.test"}')
    broker.enqueue(failing)
    broker.retry(broker.dequeue(["beta"]).msg, "SMTP 550 mailbox unavailable",
                 int(time.time()) + 60)

    def ids(needle, field="any", states=("pending", "retry"), queues=("alpha", "beta")):
        step = search(Inspector(redis_client), queues, states, needle, field, budget=5)
        assert step.done
        return sorted(m.id for m in step.matches)

    assert ids("CAT.PNG") == ["job-a"]
    assert ids("cat.png", field="type") == []
    assert ids("thumbnail", field="type") == ["job-a"]
    assert ids("job-", field="id") == ["job-a", "job-b"]
    assert ids("mailbox", field="error") == ["job-b"]
    assert ids("mailbox", states=("pending",)) == []
    assert ids("mailbox", queues=("alpha",)) == []
    # the queue name is in every msg of the queue, but it is not a searched field
    assert ids("beta") == []


def test_error_kept_in_the_hash_by_an_original_go_worker(redis_client):
    fill_archived(redis_client, "legacy", 3, [], "ok")
    redis_client.hset(keys.task_key("legacy", task_id(1)), "error_msg", "worker OOM killed")
    step = search(Inspector(redis_client), ["legacy"], ["archived"], "oom", "error")
    assert [m.id for m in step.matches] == [task_id(1)]


def test_aggregating_tasks_searched_one_group_at_a_time(broker, redis_client):
    for name, group in (("grp-a1", "a"), ("grp-a2", "a"), ("grp-b1", "b")):
        broker.enqueue(task(name, "agg"), group=group)
    step = search(Inspector(redis_client), ["agg"], ["aggregating"], "grp-", "text", group="a")
    assert step.done and sorted(m.id for m in step.matches) == ["grp-a1", "grp-a2"]
    assert step.total == 2
