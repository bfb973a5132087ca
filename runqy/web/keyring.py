"""The configured API keys by role (admin, worker, client), compared in constant time.

Every configured key is hashed once; a presented key is hashed and compared with *every*
configured digest using ``hmac.compare_digest``, so timing does not reveal which role matched.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

ADMIN, WORKER, CLIENT = "admin", "worker", "client"

def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class KeyRing:
    """The configured keys as (role, digest) pairs; empty keys give the role no key."""

    entries: tuple[tuple[str, bytes], ...]

    @classmethod
    def build(cls, admin: str, worker: str | None, client: str | None) -> KeyRing:
        pairs = [(ADMIN, admin), (WORKER, worker), (CLIENT, client)]
        return cls(tuple((role, _digest(key)) for role, key in pairs if key))

    def roles_for(self, presented: str) -> set[str]:
        digest = _digest(presented)
        roles = set()
        for role, expected in self.entries:  # no early exit: constant work per request
            if hmac.compare_digest(digest, expected):
                roles.add(role)
        return roles
