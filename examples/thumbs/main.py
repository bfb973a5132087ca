"""A one_shot task: a fresh process per task (for code that leaks memory or holds a GPU).

The worker starts `python main.py`, sends one request and stops the process after the answer.
"""

from runqy import RetryableError, run_once, task


@task
def handle(payload):
    width, height = payload["width"], payload["height"]
    scale = payload.get("max_side", 128) / max(width, height)
    if scale <= 0:
        raise RetryableError("max_side must be positive")  # retried with backoff
    return {"width": round(width * scale), "height": round(height * scale)}


if __name__ == "__main__":
    run_once()
