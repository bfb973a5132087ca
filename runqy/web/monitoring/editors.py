"""Dashboard editors for what lives in the database: queue configurations, vaults, UI settings.

Queue configurations go through the server core's `validate_config`/`save_config`, so a form is
held to the same rules as the API and the YAML loader. Vault values are encrypted with the app's
cipher and never rendered back (secret entries show a mask).
"""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from runqy.core.models import QueueConfig, Vault, VaultEntry
from runqy.core.vaults import MASK, env_key_problem, vault_name_problem
from runqy.web.extensions import db
from runqy.web.monitoring import sources
from runqy.web.monitoring.actions import go
from runqy.web.monitoring.blueprint import POLL_COOKIE, THEME_COOKIE, bp
from runqy.web.monitoring.forms import QueueConfigForm, SettingsForm, VaultEntryForm, VaultForm
from runqy.web.queue_configs import (
    enabled_queue_names,
    register_queues,
    save_config,
    serialize,
    validate_config,
)

SETTINGS_COOKIE_AGE = 365 * 86400
NEW_CONFIG_TEMPLATE = {
    "sub_queues": [{"name": "high", "priority": 10}, {"name": "low", "priority": 1}],
    "deployment": {"git_url": "https://example.com/you/tasks.git", "branch": "main",
                   "startup_cmd": "python main.py", "vaults": []},
    "task_defaults": {"max_retry": 3, "timeout": 1800},
}


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> str | BaseResponse:
    form = SettingsForm(poll_interval=request.cookies.get(POLL_COOKIE, "5"),
                        theme=request.cookies.get(THEME_COOKIE, "system"))
    if form.validate_on_submit():
        response = redirect(url_for("monitoring.settings"), code=303)
        for name, value in ((POLL_COOKIE, form.poll_interval.data),
                            (THEME_COOKIE, form.theme.data)):
            response.set_cookie(name, value, max_age=SETTINGS_COOKIE_AGE, samesite="Lax",
                                httponly=True, secure=request.is_secure)
        flash("Settings saved.", "ok")
        return response
    return render_template("monitoring/settings.html", title="Settings", form=form)


def editable_document(config: QueueConfig) -> dict[str, object]:
    """The document as the API shows it (git token masked), without read-only metadata."""
    doc = serialize(config)
    for key in ("name", "source", "created_at", "updated_at"):
        doc.pop(key)
    return doc


@bp.get("/queue-configs")
def queue_configs() -> str:
    configs = db.session.query(QueueConfig).order_by(QueueConfig.name).all()
    return render_template("monitoring/queue_configs.html", title="Queue config",
                           configs=configs)


@bp.route("/queue-configs/new", methods=["GET", "POST"], endpoint="queue_config_new")
@bp.route("/queue-configs/<name>", methods=["GET", "POST"])
def queue_config_edit(name: str | None = None) -> str | BaseResponse | tuple[str, int]:
    existing = None
    if name is not None:
        existing = db.session.query(QueueConfig).filter_by(name=name).one_or_none()
        if existing is None:
            return render_template("monitoring/message.html", title="Not found",
                                   message=f"No queue configuration named {name}."), 404
    form = QueueConfigForm(name=name, body=json.dumps(
        editable_document(existing) if existing else NEW_CONFIG_TEMPLATE, indent=2))
    problems: list[str] = []
    if form.validate_on_submit():
        target = name or form.name.data.strip()
        problems = save_from_form(target, form.body.data, existing)
        if not problems:
            flash(f"Queue configuration {target} saved.", "ok")
            return redirect(url_for("monitoring.queue_configs"), code=303)
    status = 422 if problems else 200
    return render_template("monitoring/queue_config_edit.html",
                           title=f"Edit {name}" if name else "New queue configuration",
                           section="monitoring.queue_configs", form=form, existing=existing,
                           problems=problems), status


def save_from_form(name: str, body: str, existing: QueueConfig | None) -> list[str]:
    """Validate and store one document; the problems to show, or [] when saved."""
    if existing is None and db.session.query(QueueConfig).filter_by(name=name).count():
        return [f"A queue configuration named {name} already exists."]
    try:
        raw = json.loads(body)
    except ValueError as exc:
        return [f"The configuration is not valid JSON: {exc}"]
    if not isinstance(raw, dict):
        return ["The configuration must be a JSON object."]
    deployment = raw.get("deployment")
    if existing is not None and isinstance(deployment, dict) and deployment.get("git_token") == \
            "****":  # noqa: S105 - the mask shown in the editor means "keep the stored token"
        deployment["git_token"] = (existing.deployment or {}).get("git_token")
    result = validate_config(raw, name)
    problems = result.problems + [f"unknown field '{key}'" for key in result.unknown]
    if problems:
        return problems
    config = save_config(result.doc, "api", existing)
    db.session.commit()
    register_queues(sources.redis_client(), enabled_queue_names(config))
    return []


@bp.post("/queue-configs/<name>/toggle")
def queue_config_toggle(name: str) -> BaseResponse:
    config = db.session.query(QueueConfig).filter_by(name=name).one_or_none()
    if config is not None:
        config.enabled = not config.enabled
        db.session.commit()
        if config.enabled:
            register_queues(sources.redis_client(), enabled_queue_names(config))
        flash(f"Queue configuration {name} {'enabled' if config.enabled else 'disabled'}.", "ok")
    return go(url_for("monitoring.queue_configs"))


@bp.route("/vaults", methods=["GET", "POST"])
def vaults() -> str | BaseResponse | tuple[str, int]:
    form = VaultForm()
    status = 200
    if sources.cipher() is not None and form.validate_on_submit():
        name = form.name.data.strip()
        problem = vault_name_problem(name)
        if problem is None and db.session.query(Vault).filter_by(name=name).count():
            problem = f"vault '{name}' exists"
        if problem is None:
            db.session.add(Vault(name=name, description=form.description.data or None))
            db.session.commit()
            flash(f"Vault {name} created.", "ok")
            return redirect(url_for("monitoring.vault_detail", name=name), code=303)
        form.name.errors = [problem]
        status = 422
    listing = db.session.query(Vault).order_by(Vault.name).all()
    return render_template("monitoring/vaults.html", title="Vaults", form=form, vaults=listing,
                           enabled=sources.cipher() is not None), status


def find_vault_or_none(name: str) -> Vault | None:
    return db.session.query(Vault).filter_by(name=name).one_or_none()


@bp.route("/vaults/<name>", methods=["GET", "POST"])
def vault_detail(name: str) -> str | BaseResponse | tuple[str, int]:
    vault = find_vault_or_none(name)
    cipher = sources.cipher()
    if vault is None or cipher is None:
        return render_template("monitoring/message.html", title="Vault unavailable",
                               message=f"No vault {name}, or vaults are off."), 404
    form = VaultEntryForm()
    status = 200
    if form.validate_on_submit():
        key = form.key.data.strip()
        problem = env_key_problem(key)
        if problem is None:
            entry = next((e for e in vault.entries if e.key == key), None)
            if entry is None:
                entry = VaultEntry(key=key, value_encrypted=b"")
                vault.entries.append(entry)
            entry.value_encrypted = cipher.encrypt(form.value.data)
            entry.is_secret = form.is_secret.data
            db.session.commit()
            flash(f"Entry {key} set.", "ok")
            return redirect(url_for("monitoring.vault_detail", name=name), code=303)
        form.key.errors = [problem]
        status = 422
    shown = [(e, MASK if e.is_secret else cipher.decrypt(e.value_encrypted))
             for e in vault.entries]
    users = [c.name for c in db.session.query(QueueConfig).filter_by(enabled=True)
             if name in c.vault_names]
    return render_template("monitoring/vault.html", title=f"Vault {name}",
                           section="monitoring.vaults", vault=vault, entries=shown, form=form,
                           users=users), status


@bp.post("/vaults/<name>/entries/<key>/delete")
def vault_entry_delete(name: str, key: str) -> BaseResponse:
    vault = find_vault_or_none(name)
    entry = next((e for e in vault.entries if e.key == key), None) if vault else None
    if entry is not None:
        vault.entries.remove(entry)
        db.session.commit()
        flash(f"Entry {key} removed.", "ok")
    return go(url_for("monitoring.vault_detail", name=name))


@bp.post("/vaults/<name>/delete")
def vault_delete(name: str) -> BaseResponse:
    vault = find_vault_or_none(name)
    if vault is not None:
        db.session.delete(vault)
        db.session.commit()
        flash(f"Vault {name} deleted.", "ok")
    return go(url_for("monitoring.vaults"))
