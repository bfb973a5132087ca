"""runqy: a Redis-backed distributed task queue, wire-compatible with asynq v0.26.

The top-level names are the SDK (worker-protocol.md section 9): task code writes
`from runqy import task, run`, clients use `RunqyClient`.
"""

__version__ = "0.3.0"

from runqy.sdk import *  # noqa: E402, F403 - the SDK is the package's public surface
from runqy.sdk import __all__ as _sdk_names  # noqa: E402

__all__ = ["__version__", *_sdk_names]
