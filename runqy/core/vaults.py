"""Vault encryption (AES-256-GCM under RUNQY_VAULT_MASTER_KEY) and vault name/key rules.

Values are stored as ``nonce(12) || ciphertext || tag(16)``, the original runqy format, so an
existing database stays readable.
"""

from __future__ import annotations

import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runqy.core.errors import Unavailable

VAULT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ENTRY_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV = frozenset({"PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH"})
RESERVED_VAULT_NAMES = RESERVED_ENV | {"USER", "SHELL", "PWD", "TMPDIR"}
NONCE_SIZE = 12
MASK = "********"


class VaultCipher:
    """Encrypts and decrypts vault values with one 32-byte master key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, value: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, value.encode("utf-8"), None)

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], None).decode("utf-8")
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise Unavailable("a vault value could not be decrypted (was RUNQY_VAULT_MASTER_KEY "
                              "changed?)", code="vaults_unavailable") from None


def vault_name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not VAULT_NAME_RE.fullmatch(name):
        return f"vault name {name!r} must match {VAULT_NAME_RE.pattern}"
    if name.upper() in RESERVED_VAULT_NAMES:
        return f"vault name {name!r} is reserved"
    return None


def env_key_problem(key: object, what: str = "key") -> str | None:
    if not isinstance(key, str) or not ENTRY_KEY_RE.fullmatch(key):
        return f"{what} {key!r} must match {ENTRY_KEY_RE.pattern}"
    if key.upper() in RESERVED_ENV:
        return f"{what} {key!r} is reserved"
    return None
