"""What the task page tells beyond the task hash: the task's own log lines (stdout and stderr
its worker captured, each tagged with the task ID), the traceback among them, and the workers
that ran it or run it now."""

from __future__ import annotations

from dataclasses import dataclass

from runqy.broker import Inspector, TaskInfo

TRACEBACK_START = "Traceback (most recent call last):"


@dataclass(frozen=True)
class TaskStory:
    logs: list[dict]
    traceback: str | None  # the last traceback the task printed to stderr
    ran_on: list[str]  # runqy workers whose lines mention the task, in order of appearance
    running_on: list[str]  # runqy workers listing it as active now
    servers: list[str]  # asynq servers (host:pid:id) running it now

    @classmethod
    def read(cls, inspector: Inspector, task: TaskInfo) -> TaskStory:
        logs = inspector.task_logs(task.id)
        ran_on = list(dict.fromkeys(line["worker"] for line in logs
                                    if isinstance(line.get("worker"), str)))
        running_on, servers = [], []
        if task.state == "active":
            running_on = [w.worker_id for w in inspector.runqy_workers()
                          if task.id in w.active_tasks]
            servers = [f"{s.host}:{s.pid}:{s.server_id}" for s in inspector.servers()
                       if any(w.task_id == task.id for w in s.workers)]
        return cls(logs, last_traceback(logs), ran_on, running_on, servers)


def last_traceback(logs: list[dict]) -> str | None:
    """The last Python traceback in the task's stderr lines: from its first line to the line
    naming the exception (the first unindented line after it)."""
    stderr = [str(line.get("text", "")) for line in logs if line.get("src") == "stderr"]
    starts = [i for i, text in enumerate(stderr) if text.startswith(TRACEBACK_START)]
    if not starts:
        return None
    block = [stderr[starts[-1]]]
    for text in stderr[starts[-1] + 1:]:
        block.append(text)
        if text and not text.startswith(" "):
            break
    return "\n".join(block)
