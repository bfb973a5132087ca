"""runqy: a Redis-backed distributed task queue, wire-compatible with asynq v0.26."""

__version__ = "0.3.0"
