"""Queue configurations: validation, serialization, the operations on them, and the YAML
directory loader.

A configuration describes one parent queue (http-api.md section 7.4). The API, the dashboard,
the CLI and the YAML loader all go through the operations here, so a file, a form and a request
are held to the same rules and the same ordering: every change registers its queues in Redis
first and commits after, so a Redis failure leaves nothing half-saved (the uncommitted change
is rolled back and a retry is not met by ``queue_config_exists``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session, scoped_session

from runqy.core.errors import Conflict, InvalidConfig, InvalidInput, NotFound
from runqy.core.input_schema import check_field_value
from runqy.core.models import QueueConfig, SubQueue, Vault
from runqy.core.runtime import Runtime
from runqy.core.values import MAX_RETRY, MAX_SECONDS, NAME_PART_RE, format_time, is_int
from runqy.core.vaults import env_key_problem

TOP_KEYS = {"name", "description", "enabled", "sub_queues", "deployment", "input_schema",
            "task_defaults"}
DEPLOYMENT_KEYS = {"git_url", "branch", "path", "code_path", "startup_cmd", "mode",
                   "startup_timeout_secs", "redis_storage", "requirements_file", "env", "vaults",
                   "git_token"}
# Keys a GET returns that a client may send back unchanged (ignored on input).
OUTPUT_ONLY_KEYS = {"source", "created_at", "updated_at"}
MASKED_TOKEN = "****"  # noqa: S105 - the mask shown for a literal git_token, not a password
SUB_QUEUE_KEYS = {"name", "priority", "enabled"}
# The ranges of the matching /queue/add options (http-api.md 7.4).
TASK_DEFAULT_LIMITS = {"max_retry": MAX_RETRY, "timeout": MAX_SECONDS, "retention": MAX_SECONDS}
TASK_DEFAULT_KEYS = set(TASK_DEFAULT_LIMITS)
SCHEMA_TYPES = {"string", "bool", "int", "float", "array", "object"}
SCHEMA_FIELD_KEYS = {"name", "type", "required", "default", "description"}


@dataclass
class Validated:
    """A normalized configuration document and everything wrong with it."""

    doc: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def whole(value: Any) -> Any:
    """30.0 -> 30 (a JSON integer may be written with a zero fraction); anything else as is."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _relative_path_problem(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        return f"deployment: {what} must be a non-empty string"
    if value.startswith("/") or ".." in Path(value).parts:
        return f"deployment: {what} must be relative and must not contain '..'"
    return None


def _validate_sub_queues(raw: Any, problems: list[str], unknown: list[str]) -> list[dict]:
    if raw is None or raw == []:
        return [{"name": "default", "priority": 1, "enabled": True}]
    if not isinstance(raw, list) or not 1 <= len(raw) <= 32:
        problems.append("sub_queues: must be a list of 1-32 entries")
        return []
    result, seen = [], set()
    for index, item in enumerate(raw):
        where = f"sub_queues[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        unknown.extend(f"{where}.{key}" for key in unknown_keys(item, SUB_QUEUE_KEYS))
        name, priority = item.get("name"), whole(item.get("priority", 1))
        enabled = item.get("enabled", True)
        if not isinstance(name, str) or not NAME_PART_RE.fullmatch(name) or len(name) > 64:
            problems.append(f"{where}: name {name!r} must be letters, digits, '_' and '-'")
        elif name in seen:
            problems.append(f"{where}: duplicate sub-queue name {name!r}")
        else:
            seen.add(name)
        if not is_int(priority) or not 1 <= priority <= 1000:
            problems.append(f"{where}: priority must be an integer 1-1000")
        if not isinstance(enabled, bool):
            problems.append(f"{where}: enabled must be true or false")
        result.append({"name": name, "priority": priority, "enabled": enabled})
    return result


def _validate_deployment(raw: Any, problems: list[str], unknown: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append("deployment: is required and must be an object")
        return {}
    unknown.extend(f"deployment.{key}" for key in unknown_keys(raw, DEPLOYMENT_KEYS))
    dep = {key: raw.get(key) for key in DEPLOYMENT_KEYS}
    if not isinstance(dep["startup_cmd"], str) or not dep["startup_cmd"].strip():
        problems.append("deployment: startup_cmd is required")
    if (dep["git_url"] is None) == (dep["path"] is None):
        problems.append("deployment: exactly one of git_url and path is required")
    for key in ("git_url", "path", "branch", "git_token"):
        if dep[key] is not None and not isinstance(dep[key], str):
            problems.append(f"deployment: {key} must be a string")
    if dep["git_url"] is not None and dep["branch"] is None:
        dep["branch"] = "main"
    dep["mode"] = dep["mode"] if dep["mode"] is not None else "long_running"
    if dep["mode"] not in ("long_running", "one_shot"):
        problems.append("deployment: mode must be long_running or one_shot")
    timeout = whole(dep["startup_timeout_secs"]) if dep["startup_timeout_secs"] is not None else 60
    if not is_int(timeout) or not 1 <= timeout <= 3600:
        problems.append("deployment: startup_timeout_secs must be an integer 1-3600")
    dep["startup_timeout_secs"] = timeout
    dep["redis_storage"] = bool(dep["redis_storage"]) if dep["redis_storage"] is not None else False
    if dep["requirements_file"] is None:
        dep["requirements_file"] = "requirements.txt"
    for key in ("code_path", "requirements_file"):
        problem = _relative_path_problem(dep[key], key)
        if problem:
            problems.append(problem)
    env = dep["env"] if dep["env"] is not None else {}
    if not isinstance(env, dict):
        problems.append("deployment: env must be an object")
        env = {}
    for key, value in env.items():
        problem = env_key_problem(key, "env key")
        if problem:
            problems.append(f"deployment: {problem}")
        if not isinstance(value, str | int | float | bool):
            problems.append(f"deployment: env value of {key!r} must be a scalar")
    dep["env"] = {key: value if isinstance(value, str) else str(value).lower()
                  if isinstance(value, bool) else str(value) for key, value in env.items()}
    vaults = dep["vaults"] if dep["vaults"] is not None else []
    if not isinstance(vaults, list) or not all(isinstance(v, str) for v in vaults):
        problems.append("deployment: vaults must be a list of vault names")
        vaults = []
    dep["vaults"] = vaults
    return dep


def _validate_schema(raw: Any, problems: list[str]) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        problems.append("input_schema: must be a list of fields")
        return None
    fields = []
    for index, item in enumerate(raw):
        where = f"input_schema[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        extra = unknown_keys(item, SCHEMA_FIELD_KEYS)
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(extra)}")
        name, types = item.get("name"), item.get("type")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: name is required")
        if isinstance(types, str):
            types = [types]
        if (not isinstance(types, list) or not types
                or not all(isinstance(t, str) and t in SCHEMA_TYPES for t in types)):
            problems.append(f"{where}: type must be one of {sorted(SCHEMA_TYPES)} or a list")
            types = []
        required = item.get("required", True)
        if not isinstance(required, bool):
            problems.append(f"{where}: required must be true or false")
        entry = {"name": name, "type": types, "required": required}
        if "description" in item:
            entry["description"] = item["description"]
        # A null default (a bare `default:` in YAML) means none, as in the original's files.
        if item.get("default") is not None:
            # /queue/add inserts the default as is, so it must already be a valid value.
            entry["default"], problem = check_field_value(str(name), types, item["default"])
            if problem and types:
                problems.append(f"{where}: default of {problem}")
        fields.append(entry)
    return fields


def _validate_task_defaults(raw: Any, problems: list[str], unknown: list[str]) -> dict[str, int]:
    if not isinstance(raw, dict):
        if raw is not None:
            problems.append("task_defaults: must be an object")
        return {}
    unknown.extend(f"task_defaults.{key}" for key in unknown_keys(raw, TASK_DEFAULT_KEYS))
    result = {}
    for key in TASK_DEFAULT_KEYS & set(raw):
        value = whole(raw[key])
        limit = TASK_DEFAULT_LIMITS[key]
        if not is_int(value) or not 0 <= value <= limit:
            problems.append(f"task_defaults: {key} must be a whole number 0-{limit}")
        else:
            result[key] = value
    return result


def unknown_keys(raw: dict[Any, Any], allowed: set[str]) -> list[str]:
    """The keys not in ``allowed``, as text, sorted (YAML maps may mix key types)."""
    return sorted(str(key) for key in raw if key not in allowed)


def validate_config(raw: dict[str, Any], name: str) -> Validated:
    """Check a full document for parent `name`; returns the normalized form and problems."""
    problems: list[str] = []
    try:
        # YAML also has .inf, .nan and dates: values with no JSON form to store or send.
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        problems.append("values must be JSON: finite numbers, strings, true/false, null, "
                        "lists and objects (no .inf, .nan or dates)")
    unknown = unknown_keys(raw, TOP_KEYS | OUTPUT_ONLY_KEYS)
    if raw.get("name", name) != name:
        problems.append(f"name {raw.get('name')!r} does not match {name!r}")
    if not NAME_PART_RE.fullmatch(name) or len(name) > 64:
        problems.append(f"name {name!r} must be letters, digits, '_' and '-' without dots")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.append("description: must be a string")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append("enabled: must be true or false")
    doc = {
        "name": name,
        "description": description,
        "enabled": enabled,
        "sub_queues": _validate_sub_queues(raw.get("sub_queues"), problems, unknown),
        "deployment": _validate_deployment(raw.get("deployment"), problems, unknown),
        "input_schema": _validate_schema(raw.get("input_schema"), problems),
        "task_defaults": _validate_task_defaults(raw.get("task_defaults"), problems, unknown),
    }
    return Validated(doc, problems, unknown)


def validate_or_raise(raw: Any, name: str) -> dict[str, Any]:
    """The normalized document; InvalidInput for unknown fields, InvalidConfig for broken
    rules."""
    if not isinstance(raw, dict):
        raise InvalidInput("the configuration must be a JSON object")
    result = validate_config(raw, name)
    if result.unknown:
        raise InvalidInput(*(f"unknown field '{key}'" for key in result.unknown))
    if result.problems:
        raise InvalidConfig(*result.problems)
    return result.doc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def serialize(config: QueueConfig) -> dict[str, Any]:
    deployment = dict(config.deployment or {})
    token = deployment.get("git_token")
    if token and not str(token).startswith("vault://"):
        deployment["git_token"] = MASKED_TOKEN
    return {
        "name": config.name,
        "description": config.description,
        "enabled": config.enabled,
        "source": config.source,
        "sub_queues": [{"name": s.name, "priority": s.priority, "enabled": s.enabled}
                       for s in sorted(config.sub_queues, key=lambda s: (-s.priority, s.name))],
        "deployment": deployment,
        "input_schema": config.input_schema,
        "task_defaults": config.task_defaults or {},
        "created_at": format_time(config.created_at),
        "updated_at": format_time(config.updated_at),
    }


def document_of(config: QueueConfig) -> dict[str, Any]:
    """The stored document (unmasked), as PATCH merges into it."""
    doc = serialize(config)
    doc["deployment"] = copy.deepcopy(config.deployment or {})
    for key in ("source", "created_at", "updated_at"):
        doc.pop(key)
    return doc


def save_config(session: Session | scoped_session, doc: dict[str, Any], source: str,
                existing: QueueConfig | None = None) -> QueueConfig:
    """Insert or replace a validated document (no commit).

    A `git_token` sent back as the mask keeps the stored token, so GET -> edit -> PUT works.
    """
    config = existing or QueueConfig(name=doc["name"])
    if doc["deployment"].get("git_token") == MASKED_TOKEN:
        doc["deployment"]["git_token"] = (existing.deployment or {}).get("git_token") \
            if existing is not None else None
    if existing is None:
        session.add(config)
    config.description = doc["description"]
    config.enabled = doc["enabled"]
    config.source = source
    config.deployment = doc["deployment"]
    config.input_schema = doc["input_schema"]
    config.task_defaults = doc["task_defaults"]
    current = {s.name: s for s in config.sub_queues}
    wanted = {s["name"] for s in doc["sub_queues"]}
    for sub in doc["sub_queues"]:
        row = current.get(sub["name"])
        if row is None:
            config.sub_queues.append(SubQueue(name=sub["name"], priority=sub["priority"],
                                              enabled=sub["enabled"]))
        else:
            row.priority, row.enabled = sub["priority"], sub["enabled"]
    for name, row in current.items():
        if name not in wanted:
            config.sub_queues.remove(row)
    return config


def vault_warnings(session: Session | scoped_session, doc: dict[str, Any]) -> list[str]:
    names = list(doc.get("deployment", {}).get("vaults") or [])
    token = doc.get("deployment", {}).get("git_token")
    if isinstance(token, str) and token.startswith("vault://"):
        names.append(token[len("vault://"):].split("/", 1)[0])
    if not names:
        return []
    existing = {v.name for v in session.query(Vault).filter(Vault.name.in_(names))}
    return [f"vault '{name}' does not exist" for name in dict.fromkeys(names)
            if name not in existing]


def enabled_queue_names(config: QueueConfig) -> list[str]:
    if not config.enabled:
        return []
    return [f"{config.name}.{s.name}" for s in config.sub_queues if s.enabled]


def find_config(rt: Runtime, name: str) -> QueueConfig:
    config = rt.session.query(QueueConfig).filter_by(name=name).one_or_none()
    if config is None:
        raise NotFound(f"queue configuration '{name}' not found", code="queue_config_not_found")
    return config


def list_configs(rt: Runtime, include_disabled: bool = False) -> list[QueueConfig]:
    query = rt.session.query(QueueConfig).order_by(QueueConfig.name)
    return list(query if include_disabled else query.filter_by(enabled=True))


@dataclass(frozen=True)
class Saved:
    config: QueueConfig
    created: bool = False
    warnings: list[str] = field(default_factory=list)


def _commit(rt: Runtime, config: QueueConfig, doc: dict[str, Any] | None,
            created: bool = False, yaml_warning: bool = True) -> Saved:
    """Register the enabled queues in Redis, then commit; on any failure roll back."""
    warnings = vault_warnings(rt.session, doc) if doc is not None else []
    if yaml_warning and config.source == "yaml":
        warnings.append(f"'{config.name}' comes from a YAML file; the next reload overwrites it")
    try:
        rt.admin.register_queues(enabled_queue_names(config))
        rt.session.commit()
    except BaseException:
        rt.session.rollback()
        raise
    return Saved(config, created, warnings)


def create_config(rt: Runtime, raw: Any, replace: bool = False) -> Saved:
    """Create a configuration (``replace``: overwrite one of the same name)."""
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        raise InvalidInput("'name' is required and must be a string")
    doc = validate_or_raise(raw, name)
    existing = rt.session.query(QueueConfig).filter_by(name=name).one_or_none()
    if existing is not None and not replace:
        raise Conflict(f"queue configuration '{name}' exists", code="queue_config_exists")
    config = save_config(rt.session, doc, "api", existing)
    return _commit(rt, config, doc, created=existing is None, yaml_warning=False)


def replace_config(rt: Runtime, name: str, raw: Any) -> Saved:
    config = find_config(rt, name)
    doc = validate_or_raise(raw, name)
    save_config(rt.session, doc, config.source, config)
    return _commit(rt, config, doc)


def patch_config(rt: Runtime, name: str, patch: Any) -> Saved:
    """Apply a JSON merge patch (RFC 7396); lists (sub-queues, schema, vaults) are replaced
    whole."""
    if not isinstance(patch, dict):
        raise InvalidInput("the patch must be a JSON object")
    config = find_config(rt, name)
    merged = merge_patch(document_of(config), patch)
    for whole in ("sub_queues", "input_schema"):
        if whole in patch and patch[whole] is not None:
            merged[whole] = patch[whole]
    patched_dep = patch.get("deployment")
    if isinstance(patched_dep, dict) and patched_dep.get("vaults") is not None:
        merged["deployment"]["vaults"] = patched_dep["vaults"]
    doc = validate_or_raise(merged, name)
    save_config(rt.session, doc, config.source, config)
    return _commit(rt, config, doc)


def disable_config(rt: Runtime, name: str) -> QueueConfig:
    """Soft delete: the configuration and its sub-queues stop being served."""
    config = find_config(rt, name)
    config.enabled = False
    for sub in config.sub_queues:
        sub.enabled = False
    rt.session.commit()
    return config


def restore_config(rt: Runtime, name: str, sub: str | None = None) -> Saved:
    """Re-enable a configuration, with all its sub-queues or only ``sub``."""
    config = find_config(rt, name)
    subs = [s for s in config.sub_queues if sub is None or s.name == sub]
    if sub is not None and not subs:
        raise NotFound(f"sub-queue '{name}.{sub}' not found", code="queue_config_not_found")
    config.enabled = True
    for row in subs:
        row.enabled = True
    return _commit(rt, config, document_of(config), yaml_warning=False)


def put_sub_queue(rt: Runtime, name: str, sub: str, priority: int, enabled: bool) -> Saved:
    """Add or update one sub-queue (``created`` tells which)."""
    config = find_config(rt, name)
    if not NAME_PART_RE.fullmatch(sub) or len(sub) > 64:
        raise InvalidConfig(f"sub-queue name {sub!r} is invalid")
    if not 1 <= priority <= 1000:
        raise InvalidConfig("priority must be 1-1000")
    row = next((s for s in config.sub_queues if s.name == sub), None)
    if row is None:
        if len(config.sub_queues) >= 32:
            raise InvalidConfig("a queue has at most 32 sub-queues")
        config.sub_queues.append(SubQueue(name=sub, priority=priority, enabled=enabled))
    else:
        row.priority, row.enabled = priority, enabled
    return _commit(rt, config, document_of(config), created=row is None)


def disable_sub_queue(rt: Runtime, name: str, sub: str) -> QueueConfig:
    config = find_config(rt, name)
    row = next((s for s in config.sub_queues if s.name == sub), None)
    if row is None:
        raise NotFound(f"sub-queue '{name}.{sub}' not found", code="queue_config_not_found")
    row.enabled = False
    rt.session.commit()
    return config


# ---- YAML directory -------------------------------------------------------------------------


class ConfigDirError(InvalidConfig):
    """One or more YAML files are invalid; ``problems`` holds ``file: reason`` messages."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(*problems)
        self.problems = problems


def read_config_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """Parse and validate every *.yaml/*.yml file; all-or-nothing (raises ConfigDirError)."""
    problems: list[str] = []
    docs: dict[str, dict[str, Any]] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files:
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, OSError, ValueError, RecursionError) as exc:
            problems.append(f"{path.name}: not valid YAML ({exc.__class__.__name__})")
            continue
        queues = content.get("queues") if isinstance(content, dict) else None
        if not isinstance(queues, dict):
            problems.append(f"{path.name}: a top-level 'queues:' map is required")
            continue
        for name, raw in queues.items():
            where = f"{path.name}: queues.{name}"
            if not isinstance(raw, dict):
                problems.append(f"{where}: must be a map")
                continue
            raw = dict(raw)
            if "input" in raw and "input_schema" not in raw:
                raw["input_schema"] = raw.pop("input")
            result = validate_config(raw, str(name))
            problems.extend(f"{where}.{p}" if p.startswith("deployment") else f"{where}: {p}"
                            for p in result.problems)
            problems.extend(f"{where}: unknown key '{key}'" for key in result.unknown)
            if str(name) in docs:
                problems.append(f"{where}: defined in more than one file")
            docs[str(name)] = result.doc
    if problems:
        raise ConfigDirError(problems)
    return docs


def apply_config_dir(rt: Runtime, directory: Path) -> dict[str, list[str]]:
    """Reload: upsert every YAML queue, disable YAML-sourced ones that vanished; all or nothing
    (ConfigDirError, nothing changed, when any file is invalid)."""
    docs = read_config_dir(directory)
    reloaded, disabled, names = [], [], []
    try:
        for name, doc in docs.items():
            existing = rt.session.query(QueueConfig).filter_by(name=name).one_or_none()
            config = save_config(rt.session, doc, "yaml", existing)
            reloaded.append(name)
            names.extend(enabled_queue_names(config))
        for config in rt.session.query(QueueConfig).filter_by(source="yaml", enabled=True):
            if config.name not in docs:
                config.enabled = False
                disabled.append(config.name)
        rt.admin.register_queues(names)  # before the commit, as for every save
        rt.session.commit()
    except BaseException:
        rt.session.rollback()
        raise
    return {"reloaded": sorted(reloaded), "disabled": sorted(disabled)}


def reload_config_dir(rt: Runtime) -> dict[str, list[str]]:
    """Reload the configured YAML directory (Conflict ``config_dir_unset`` without one)."""
    if rt.config_dir is None:
        raise Conflict("no YAML directory is configured (QUEUE_WORKERS_DIR or runqy serve "
                       "--config DIR)", code="config_dir_unset")
    return apply_config_dir(rt, rt.config_dir)
