"""Speaks the line protocol exactly as runqy-python 0.2.x does (its observable behaviour).

0.2.x prints the ready line, reads `task_id` and `payload`, answers with `retry: false` on every
exception, and leaves the user's print() output on stdout.
"""

import json
import sys

print(json.dumps({"status": "ready"}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    payload = request["payload"]
    print("handling", request["task_id"], flush=True)  # a non-JSON stdout line
    if payload.get("fail"):
        response = {"task_id": request["task_id"], "result": None,
                    "error": "ValueError: legacy failure", "retry": False}
    else:
        response = {"task_id": request["task_id"], "result": {"legacy": payload["n"] * 2},
                    "error": None, "retry": False}
    print(json.dumps(response), flush=True)
