"""`runqy config list|get|validate|create|remove|reload`: queue configurations.

`config validate` reads YAML files (the layout of `QUEUE_WORKERS_DIR`) with the server's own
validation and needs no server. `config create -f FILE` takes that YAML layout (every queue of
the file) or one configuration as JSON/YAML.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
import yaml

from runqy.operator.context import OperatorGroup, emit, options
from runqy.operator.errors import OperatorError, from_domain
from runqy.operator.output import print_table, when


@click.group(cls=OperatorGroup)
def config() -> None:
    """Queue configurations: list, show, validate, create, remove, reload."""


def _sub_queues(c: dict[str, Any]) -> str:
    return ",".join(f"{s['name']}:{s['priority']}" + ("" if s.get("enabled", True) else "(off)")
                    for s in c.get("sub_queues") or [])


@config.command("list")
def list_configs() -> None:
    """Every queue configuration, disabled ones included."""
    emit(options().backend().list_configs(), lambda d: print_table(
        ["NAME", "SUB_QUEUES", "ENABLED", "SOURCE", "MODE", "UPDATED"],
        [[c["name"], _sub_queues(c), c.get("enabled"), c.get("source"),
          (c.get("deployment") or {}).get("mode"), when(c.get("updated_at"))]
         for c in d["queues"]], "No queue configurations."))


@config.command("get")
@click.argument("name")
def get(name: str) -> None:
    """One configuration, as YAML (or JSON with -o json)."""
    emit(options().backend().get_config(name), lambda d: click.echo(
        yaml.safe_dump({"queues": {d["name"]: d}}, sort_keys=False, allow_unicode=True),
        nl=False))


def _yaml_dir(path: Path) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """A directory holding the YAML to read: PATH itself, or a temporary one with PATH."""
    if path.is_dir():
        return path, None
    holder = tempfile.TemporaryDirectory(prefix="runqy-validate-")
    shutil.copyfile(path, Path(holder.name) / (path.stem + ".yaml"))
    return Path(holder.name), holder


def read_yaml_queues(path: Path) -> dict[str, dict[str, Any]]:
    """Every queue of a YAML file or directory, validated as the server validates a reload."""
    from runqy.core.errors import DomainError
    from runqy.core.queue_configs import read_config_dir

    directory, holder = _yaml_dir(path)
    try:
        return read_config_dir(directory)
    except DomainError as exc:
        raise from_domain(exc) from None
    finally:
        if holder is not None:
            holder.cleanup()


@config.command("validate")
@click.argument("path", metavar="FILE|DIR",
                type=click.Path(exists=True, path_type=Path))
def validate(path: Path) -> None:
    """Check YAML queue files as the server would load them (no server needed)."""
    docs = read_yaml_queues(path)
    emit({"valid": True, "queues": sorted(docs)}, lambda d: click.echo(
        f"{path}: valid ({len(docs)} queue{'s' if len(docs) != 1 else ''}: "
        f"{', '.join(d['queues']) or 'none'})."))


def _documents(path: Path) -> list[dict[str, Any]]:
    """The configurations in FILE: a `queues:` map (YAML layout) or one configuration."""
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise OperatorError(f"{path}: not valid YAML or JSON ({exc.__class__.__name__})") \
            from None
    if isinstance(content, dict) and isinstance(content.get("queues"), dict):
        return [{**doc, "name": name} for name, doc in read_yaml_queues(path).items()]
    if isinstance(content, dict) and "name" in content:
        return [content]
    raise OperatorError(f"{path}: expected a 'queues:' map or one configuration with a 'name'")


@config.command("create")
@click.option("-f", "--file", "path", required=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML (`queues:` map) or JSON/YAML of one configuration.")
@click.option("--force", is_flag=True, help="Replace a configuration that already exists.")
def create(path: Path, force: bool) -> None:
    """Create the queue configurations of FILE."""
    backend = options().backend()
    created = [backend.create_config(doc, force) for doc in _documents(path)]

    def render(answers: list[dict[str, Any]]) -> None:
        for answer in answers:
            click.echo(f"Saved queue configuration {answer['queue']['name']}.")
            for warning in answer.get("warnings") or []:
                click.echo(f"  warning: {warning}")

    emit(created, render)


@config.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Disable configuration NAME and its sub-queues (restorable; tasks stay in Redis)."""
    emit(options().backend().remove_config(name),
         lambda d: click.echo(f"Queue configuration {name} disabled."))


@config.command("reload")
def reload() -> None:
    """Reload the server's YAML directory (QUEUE_WORKERS_DIR), all or nothing."""
    emit(options().backend().reload_configs(), lambda d: click.echo(
        f"Reloaded: {', '.join(d['reloaded']) or 'none'}; "
        f"disabled: {', '.join(d['disabled']) or 'none'}."))
