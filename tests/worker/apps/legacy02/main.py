"""Task code written for runqy-python 0.2.x, unchanged: it imports `runqy_python`."""

from runqy_python import RetryableError, load, run, task


@load
def setup():
    return {"factor": 3}


@task
def handle(payload, ctx):
    print("legacy handler called")
    if payload.get("retryable"):
        raise RetryableError("try again")
    if payload.get("fail"):
        raise ValueError("legacy failure")
    return {"tripled": payload["n"] * ctx["factor"]}


if __name__ == "__main__":
    run()
