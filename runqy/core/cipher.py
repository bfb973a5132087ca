"""Vault value encryption: AES-256-GCM under RUNQY_VAULT_MASTER_KEY.

Values are stored as ``nonce(12) || ciphertext || tag(16)``, the original runqy format, so an
existing database stays readable.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runqy.core.errors import Unavailable

NONCE_SIZE = 12


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
