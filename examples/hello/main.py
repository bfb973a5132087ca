"""A long_running task: the loader runs once per process, then every task reuses its result.

Try it by hand: echo '{"task_id":"t1","payload":{"name":"Ada"}}' | python main.py
"""

import os

from runqy import PermanentError, current_task, load, run, task


@load
def setup():
    # Expensive start-up (a model, a connection pool) belongs here, not in the handler.
    return {"greeting": os.environ.get("GREETING", "Hello"), "pid": os.getpid()}


@task
def handle(payload, ctx):
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        raise PermanentError("payload needs a non-empty 'name'")  # archived, never retried
    print(f"greeting {name}")  # goes to the worker's log list, never to the protocol
    return {"message": f"{ctx['greeting']}, {name}!", "task_id": current_task().task_id,
            "served_by_pid": ctx["pid"]}


if __name__ == "__main__":
    run()
