"""Enqueue one task on each example queue and print the results.

RUNQY_SERVER_URL (default http://127.0.0.1:3000) and RUNQY_API_KEY pick the server.
"""

import json
import os

from runqy import RunqyClient

client = RunqyClient(os.environ.get("RUNQY_SERVER_URL", "http://127.0.0.1:3000"),
                     os.environ["RUNQY_API_KEY"])
hello = client.enqueue("hello.high", {"name": "Ada"})
thumb = client.enqueue("thumbs", {"width": 1920, "height": 1080})
for task_id in (hello.task_id, thumb.task_id):
    info = client.wait(task_id, timeout=60)
    print(json.dumps({"queue": info.queue, "state": info.state, "result": info.result}))
