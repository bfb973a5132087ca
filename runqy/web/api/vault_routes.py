"""Admin vault routes: vaults and their encrypted entries, always masked (section 7.5)."""

from __future__ import annotations

from typing import Any

from runqy.core.models import QueueConfig, Vault, VaultEntry
from runqy.core.values import as_bool, as_string, format_time, reject_unknown
from runqy.core.vaults import MASK, VaultCipher, env_key_problem, vault_name_problem
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.errors import ApiError, invalid_request
from runqy.web.extensions import db
from runqy.web.inputs import json_body, query_bool
from runqy.web.state import runqy_state


def _cipher() -> VaultCipher:
    cipher = runqy_state().cipher
    if cipher is None:
        raise ApiError(503, "vaults_disabled", "vaults are off: set RUNQY_VAULT_MASTER_KEY "
                       "(generate one with: openssl rand -base64 32)")
    return cipher


def _find_vault(name: str) -> Vault:
    vault = db.session.query(Vault).filter_by(name=name).one_or_none()
    if vault is None:
        raise ApiError(404, "vault_not_found", f"vault '{name}' not found")
    return vault


def entry_object(entry: VaultEntry, cipher: VaultCipher) -> dict[str, Any]:
    value = MASK if entry.is_secret else cipher.decrypt(entry.value_encrypted)
    return {"key": entry.key, "value": value, "value_length": entry.value_length,
            "is_secret": entry.is_secret, "created_at": format_time(entry.created_at),
            "updated_at": format_time(entry.updated_at)}


def vault_object(vault: Vault) -> dict[str, Any]:
    return {"name": vault.name, "description": vault.description,
            "entry_count": len(vault.entries), "created_at": format_time(vault.created_at),
            "updated_at": format_time(vault.updated_at)}


@api_bp.get("/api/vaults")
@admin_route
def list_vaults() -> Any:
    """Vault names and entry counts."""
    _cipher()
    vaults = [vault_object(v) for v in db.session.query(Vault).order_by(Vault.name)]
    return {"vaults": vaults, "count": len(vaults)}


def _description(body: dict[str, Any]) -> str | None:
    value = body.get("description")
    return None if value is None else as_string(value, "description")


@api_bp.post("/api/vaults")
@admin_route
def create_vault() -> Any:
    """Create a vault."""
    _cipher()
    body = json_body()
    reject_unknown(body, {"name", "description"})
    if "name" not in body:
        raise invalid_request("'name' is required")
    description = _description(body)
    problem = vault_name_problem(body["name"])
    if problem:
        raise ApiError(422, "invalid_config", problem)
    if db.session.query(Vault).filter_by(name=body["name"]).one_or_none() is not None:
        raise ApiError(409, "vault_exists", f"vault '{body['name']}' exists")
    vault = Vault(name=body["name"], description=description)
    db.session.add(vault)
    db.session.commit()
    return {"vault": vault_object(vault)}, 201


@api_bp.get("/api/vaults/<vault>")
@admin_route
def get_vault(vault: str) -> Any:
    """One vault with its masked entries."""
    cipher = _cipher()
    found = _find_vault(vault)
    return {**vault_object(found), "entries": [entry_object(e, cipher) for e in found.entries]}


@api_bp.patch("/api/vaults/<vault>")
@admin_route
def patch_vault(vault: str) -> Any:
    """Change a vault's description."""
    _cipher()
    body = json_body()
    reject_unknown(body, {"description"})
    found = _find_vault(vault)
    found.description = _description(body)
    db.session.commit()
    return {"vault": vault_object(found)}


@api_bp.delete("/api/vaults/<vault>")
@admin_route
def delete_vault(vault: str) -> Any:
    """Delete a vault and its entries."""
    _cipher()
    found = _find_vault(vault)
    users = [c.name for c in db.session.query(QueueConfig).filter_by(enabled=True)
             if vault in c.vault_names]
    if users and not query_bool("force"):
        raise ApiError(409, "vault_in_use", f"vault '{vault}' is used by "
                       f"{', '.join(sorted(users))}; pass force=true to delete it anyway")
    db.session.delete(found)
    db.session.commit()
    return {"vault": vault, "deleted": True}


@api_bp.get("/api/vaults/<vault>/entries")
@admin_route
def list_entries(vault: str) -> Any:
    """A vault's entries, masked."""
    cipher = _cipher()
    entries = [entry_object(e, cipher) for e in _find_vault(vault).entries]
    return {"entries": entries, "count": len(entries)}


@api_bp.post("/api/vaults/<vault>/entries")
@admin_route
def put_entry(vault: str) -> Any:
    """Add or replace a vault entry (encrypted at rest)."""
    cipher = _cipher()
    body = json_body()
    reject_unknown(body, {"key", "value", "is_secret"})
    if "key" not in body or "value" not in body:
        raise invalid_request("'key' and 'value' are required")
    value = as_string(body["value"], "value")
    is_secret = as_bool(body.get("is_secret", True), "is_secret")
    problem = env_key_problem(body["key"])
    if problem:
        raise ApiError(422, "invalid_config", problem)
    found = _find_vault(vault)
    entry = next((e for e in found.entries if e.key == body["key"]), None)
    status = 200
    if entry is None:
        entry = VaultEntry(key=body["key"], value_encrypted=b"", is_secret=is_secret)
        found.entries.append(entry)
        status = 201
    entry.value_encrypted = cipher.encrypt(value)
    entry.is_secret = is_secret
    db.session.commit()
    return entry_object(entry, cipher), status


@api_bp.delete("/api/vaults/<vault>/entries/<key>")
@admin_route
def delete_entry(vault: str, key: str) -> Any:
    """Delete a vault entry."""
    _cipher()
    found = _find_vault(vault)
    entry = next((e for e in found.entries if e.key == key), None)
    if entry is None:
        raise ApiError(404, "vault_entry_not_found", f"vault '{vault}' has no entry '{key}'")
    found.entries.remove(entry)
    db.session.commit()
    return {"deleted": True}
