"""Admin vault routes: vaults and their encrypted entries, always masked (section 7.5), as thin
views on :mod:`runqy.core.vaults`."""

from __future__ import annotations

from typing import Any

from runqy.core import vaults
from runqy.core.errors import InvalidInput
from runqy.core.objects import entry_object, vault_detail_object, vault_object
from runqy.core.values import as_bool, as_string, reject_unknown
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.inputs import json_body, query_bool
from runqy.web.state import core


@api_bp.get("/api/vaults")
@admin_route
def list_vaults() -> Any:
    """Vault names and entry counts."""
    listed = [vault_object(v) for v in vaults.list_vaults(core())]
    return {"vaults": listed, "count": len(listed)}


def _description(body: dict[str, Any]) -> str | None:
    value = body.get("description")
    return None if value is None else as_string(value, "description")


@api_bp.post("/api/vaults")
@admin_route
def create_vault() -> Any:
    """Create a vault."""
    vaults.cipher_of(core())
    body = json_body()
    reject_unknown(body, {"name", "description"})
    if "name" not in body:
        raise InvalidInput("'name' is required")
    vault = vaults.create_vault(core(), body["name"], _description(body))
    return {"vault": vault_object(vault)}, 201


@api_bp.get("/api/vaults/<vault>")
@admin_route
def get_vault(vault: str) -> Any:
    """One vault with its masked entries."""
    found = vaults.find_vault(core(), vault)
    cipher = vaults.cipher_of(core())
    return vault_detail_object(found, cipher)


@api_bp.patch("/api/vaults/<vault>")
@admin_route
def patch_vault(vault: str) -> Any:
    """Change a vault's description."""
    vaults.cipher_of(core())
    body = json_body()
    reject_unknown(body, {"description"})
    return {"vault": vault_object(vaults.describe_vault(core(), vault, _description(body)))}


@api_bp.delete("/api/vaults/<vault>")
@admin_route
def delete_vault(vault: str) -> Any:
    """Delete a vault and its entries (409 vault_in_use while a queue uses it, unless forced)."""
    vaults.delete_vault(core(), vault, force=query_bool("force"))
    return {"vault": vault, "deleted": True}


@api_bp.get("/api/vaults/<vault>/entries")
@admin_route
def list_entries(vault: str) -> Any:
    """A vault's entries, masked."""
    found = vaults.find_vault(core(), vault)
    cipher = vaults.cipher_of(core())
    entries = [entry_object(e, cipher) for e in found.entries]
    return {"entries": entries, "count": len(entries)}


@api_bp.post("/api/vaults/<vault>/entries")
@admin_route
def put_entry(vault: str) -> Any:
    """Add or replace a vault entry (encrypted at rest)."""
    cipher = vaults.cipher_of(core())
    body = json_body()
    reject_unknown(body, {"key", "value", "is_secret"})
    if "key" not in body or "value" not in body:
        raise InvalidInput("'key' and 'value' are required")
    value = as_string(body["value"], "value")
    is_secret = as_bool(body.get("is_secret", True), "is_secret")
    entry, created = vaults.set_entry(core(), vault, body["key"], value, is_secret)
    return entry_object(entry, cipher), 201 if created else 200


@api_bp.delete("/api/vaults/<vault>/entries/<key>")
@admin_route
def delete_entry(vault: str, key: str) -> Any:
    """Delete a vault entry."""
    vaults.delete_entry(core(), vault, key)
    return {"deleted": True}
