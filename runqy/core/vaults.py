"""Vaults: name and key rules, and the operations the API, the dashboard and the CLI share (a
vault a queue uses is not deleted unless forced). Values are encrypted by
:class:`runqy.core.cipher.VaultCipher`.
"""

from __future__ import annotations

import re

from runqy.core.cipher import VaultCipher
from runqy.core.errors import Conflict, InvalidConfig, NotFound, Unavailable
from runqy.core.models import QueueConfig, Vault, VaultEntry
from runqy.core.runtime import Runtime

VAULT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ENTRY_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV = frozenset({"PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH"})
RESERVED_VAULT_NAMES = RESERVED_ENV | {"USER", "SHELL", "PWD", "TMPDIR"}
MASK = "********"


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


# ---- operations ------------------------------------------------------------------------------


def cipher_of(rt: Runtime) -> VaultCipher:
    """The cipher, or Unavailable ``vaults_disabled`` when no master key is set."""
    if rt.cipher is None:
        raise Unavailable("vaults are off: set RUNQY_VAULT_MASTER_KEY (generate one with: "
                          "openssl rand -base64 32)", code="vaults_disabled")
    return rt.cipher


def shown_value(entry: VaultEntry, cipher: VaultCipher) -> str:
    """What a listing shows: the mask for a secret, else the value."""
    return MASK if entry.is_secret else cipher.decrypt(entry.value_encrypted)


def list_vaults(rt: Runtime) -> list[Vault]:
    cipher_of(rt)
    return list(rt.session.query(Vault).order_by(Vault.name))


def find_vault(rt: Runtime, name: str) -> Vault:
    cipher_of(rt)
    vault = rt.session.query(Vault).filter_by(name=name).one_or_none()
    if vault is None:
        raise NotFound(f"vault '{name}' not found", code="vault_not_found")
    return vault


def create_vault(rt: Runtime, name: object, description: str | None = None) -> Vault:
    cipher_of(rt)
    problem = vault_name_problem(name)
    if problem:
        raise InvalidConfig(problem)
    if rt.session.query(Vault).filter_by(name=name).one_or_none() is not None:
        raise Conflict(f"vault '{name}' exists", code="vault_exists")
    vault = Vault(name=name, description=description)
    rt.session.add(vault)
    rt.session.commit()
    return vault


def describe_vault(rt: Runtime, name: str, description: str | None) -> Vault:
    vault = find_vault(rt, name)
    vault.description = description
    rt.session.commit()
    return vault


def vault_users(rt: Runtime, name: str) -> list[str]:
    """The enabled queue configurations that use vault ``name``, sorted."""
    return sorted(c.name for c in rt.session.query(QueueConfig).filter_by(enabled=True)
                  if name in c.vault_names)


def delete_vault(rt: Runtime, name: str, force: bool = False) -> None:
    """Delete a vault and its entries; Conflict ``vault_in_use`` while a queue uses it, unless
    ``force``."""
    vault = find_vault(rt, name)
    users = vault_users(rt, name)
    if users and not force:
        raise Conflict(f"vault '{name}' is used by {', '.join(users)}; pass force=true to "
                       "delete it anyway", code="vault_in_use")
    rt.session.delete(vault)
    rt.session.commit()


def set_entry(rt: Runtime, name: str, key: object, value: str,
              is_secret: bool = True) -> tuple[VaultEntry, bool]:
    """Add or replace an entry, encrypted; returns it and whether it is new."""
    cipher = cipher_of(rt)
    problem = env_key_problem(key)
    if problem:
        raise InvalidConfig(problem)
    vault = find_vault(rt, name)
    entry = next((e for e in vault.entries if e.key == key), None)
    created = entry is None
    if entry is None:
        entry = VaultEntry(key=key, value_encrypted=b"", is_secret=is_secret)
        vault.entries.append(entry)
    entry.value_encrypted = cipher.encrypt(value)
    entry.is_secret = is_secret
    rt.session.commit()
    return entry, created


def delete_entry(rt: Runtime, name: str, key: str) -> None:
    vault = find_vault(rt, name)
    entry = next((e for e in vault.entries if e.key == key), None)
    if entry is None:
        raise NotFound(f"vault '{name}' has no entry '{key}'", code="vault_entry_not_found")
    vault.entries.remove(entry)
    rt.session.commit()
