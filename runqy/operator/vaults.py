"""`runqy vault list|create|delete|set|get|unset|entries`: encrypted key/value stores that
queue deployments use. Secret values are never shown: the API masks them, in both modes."""

from __future__ import annotations

from typing import Any

import click

from runqy.operator.context import OperatorGroup, emit, options
from runqy.operator.errors import OperatorError
from runqy.operator.output import print_fields, print_table, when


@click.group(cls=OperatorGroup)
def vault() -> None:
    """Vaults and their entries (secrets masked)."""


@vault.command("list")
def list_vaults() -> None:
    """Every vault with its number of entries."""
    emit(options().backend().list_vaults(), lambda d: print_table(
        ["NAME", "DESCRIPTION", "ENTRIES", "UPDATED"],
        [[v["name"], v.get("description"), v.get("entry_count"), when(v.get("updated_at"))]
         for v in d["vaults"]], "No vaults."))


@vault.command("create")
@click.argument("name")
@click.option("-d", "--description", help="What the vault is for.")
def create(name: str, description: str | None) -> None:
    """Create the vault NAME."""
    emit(options().backend().create_vault(name, description),
         lambda d: click.echo(f"Vault {d['vault']['name']} created."))


@vault.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even when a queue configuration uses it.")
def delete(name: str, force: bool) -> None:
    """Delete the vault NAME and its entries."""
    emit(options().backend().delete_vault(name, force),
         lambda d: click.echo(f"Vault {name} deleted."))


@vault.command("set")
@click.argument("name")
@click.argument("key")
@click.argument("value")
@click.option("--plain", is_flag=True, help="Not a secret: listings show the value.")
def set_entry(name: str, key: str, value: str, plain: bool) -> None:
    """Set KEY to VALUE in vault NAME (encrypted at rest; a secret unless --plain)."""
    emit(options().backend().set_entry(name, key, value, not plain), lambda d: click.echo(
        f"Set {d['key']} in vault {name} ({'secret' if d['is_secret'] else 'plain'})."))


def _entry_rows(entries: list[dict[str, Any]]) -> list[list[Any]]:
    return [[e["key"], e["value"], "yes" if e["is_secret"] else "no", when(e.get("updated_at"))]
            for e in entries]


@vault.command("get")
@click.argument("name")
@click.argument("key")
def get(name: str, key: str) -> None:
    """One entry of vault NAME (a secret's value stays masked)."""
    found = [e for e in options().backend().vault(name)["entries"] if e["key"] == key]
    if not found:
        raise OperatorError(f"vault '{name}' has no entry '{key}'", 404, "vault_entry_not_found")
    entry = found[0]
    emit(entry, lambda e: print_fields([
        ("Key", e["key"]), ("Value", e["value"]), ("Length", e.get("value_length")),
        ("Secret", e["is_secret"]), ("Updated", when(e.get("updated_at")))]))


@vault.command("unset")
@click.argument("name")
@click.argument("key")
def unset(name: str, key: str) -> None:
    """Remove KEY from vault NAME."""
    emit(options().backend().delete_entry(name, key),
         lambda d: click.echo(f"Removed {key} from vault {name}."))


@vault.command("entries")
@click.argument("name")
def entries(name: str) -> None:
    """The entries of vault NAME (secrets masked)."""
    emit(options().backend().entries(name), lambda d: print_table(
        ["KEY", "VALUE", "SECRET", "UPDATED"], _entry_rows(d["entries"]),
        f"Vault {name} has no entries."))
