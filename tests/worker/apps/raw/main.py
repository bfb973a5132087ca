"""Speaks the line protocol by hand, the way runqy-python 0.2.x does unless told otherwise.

Like 0.2.x it prints the ready line, reads only `task_id` and `payload`, answers failures with
`retry: false` and leaves print() output on stdout. The payload can ask for extra stdout lines,
an oversized line, a response for another task, an exact response object, or an exact
response line (``exact``, sent as it is).
"""

import json
import sys
import time

print(json.dumps({"status": "ready"}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    payload = request["payload"] if isinstance(request["payload"], dict) else {}
    print("handling", request["task_id"], flush=True)
    for extra in payload.get("lines", []):
        print(extra, flush=True)
    if "big" in payload:
        sys.stdout.write("z" * payload["big"] + "\n")
        sys.stdout.flush()
    if payload.get("foreign"):
        print(json.dumps({"task_id": "not-in-flight", "result": 1, "error": None}), flush=True)
    time.sleep(payload.get("sleep", 0))
    if "exact" in payload:
        print(payload["exact"], flush=True)
        continue
    if "respond" in payload:
        response = {**payload["respond"], "task_id": request["task_id"]}
    elif payload.get("fail"):
        response = {"task_id": request["task_id"], "result": None,
                    "error": "ValueError: legacy failure", "retry": False}
    else:
        response = {"task_id": request["task_id"], "result": {"legacy": payload.get("n", 0) * 2},
                    "error": None, "retry": False}
    print(json.dumps(response), flush=True)
