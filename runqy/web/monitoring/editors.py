"""Dashboard editors for what lives in the database: queue configurations, vaults, UI settings.

Every change goes through the core (:mod:`runqy.core.queue_configs`, :mod:`runqy.core.vaults`),
so a form gets the API's rules, ordering and refusals (a vault in use is deleted only with
"Delete anyway"). Secret vault entries are never rendered back (they show a mask).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse
from wtforms import Field

from runqy.core import queue_configs as config_ops
from runqy.core import vaults as vault_ops
from runqy.core.errors import DomainError
from runqy.core.models import QueueConfig
from runqy.core.queue_configs import serialize
from runqy.web.monitoring.actions import go
from runqy.web.monitoring.blueprint import POLL_COOKIE, THEME_COOKIE, bp
from runqy.web.monitoring.forms import QueueConfigForm, SettingsForm, VaultEntryForm, VaultForm
from runqy.web.state import core

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
    configs = config_ops.list_configs(core(), include_disabled=True)
    return render_template("monitoring/queue_configs.html", title="Queue config",
                           configs=configs)


@bp.route("/queue-configs/new", methods=["GET", "POST"], endpoint="queue_config_new")
@bp.route("/queue-configs/<name>", methods=["GET", "POST"])
def queue_config_edit(name: str | None = None) -> str | BaseResponse | tuple[str, int]:
    # An unknown name is the core's NotFound: the blueprint shows the 404 page.
    existing = config_ops.find_config(core(), name) if name is not None else None
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
    """Validate and store one document through the core; the problems to show, or []."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        return [f"The configuration is not valid JSON: {exc}"]
    if not isinstance(raw, dict):
        return ["The configuration must be a JSON object."]
    try:
        if existing is None:
            config_ops.create_config(core(), {**raw, "name": name})
        else:
            config_ops.replace_config(core(), name, raw)
    except DomainError as exc:
        return exc.messages
    return []


@bp.post("/queue-configs/<name>/toggle")
def queue_config_toggle(name: str) -> BaseResponse:
    rt = core()
    config = config_ops.find_config(rt, name)
    if config.enabled:
        config_ops.disable_config(rt, name)
    else:
        config_ops.restore_config(rt, name)
    flash(f"Queue configuration {name} {'enabled' if config.enabled else 'disabled'}.", "ok")
    return go(url_for("monitoring.queue_configs"))


def submitted(field: Field, change: Callable[[], object], done: str,
              vault: str) -> BaseResponse | None:
    """Apply a vault form's change: flash `done` and go to the vault's page, or put the
    refusal on `field` (None: show the form again)."""
    try:
        change()
    except DomainError as exc:
        field.errors = [str(exc)]
        return None
    flash(done, "ok")
    return redirect(url_for("monitoring.vault_detail", name=vault), code=303)


@bp.route("/vaults", methods=["GET", "POST"])
def vaults() -> str | BaseResponse | tuple[str, int]:
    form = VaultForm()
    status = 200
    rt = core()
    if rt.cipher is not None and form.validate_on_submit():
        name = form.name.data.strip()
        done = submitted(form.name, lambda: vault_ops.create_vault(
            rt, name, form.description.data or None), f"Vault {name} created.", name)
        if done:
            return done
        status = 422
    listing = vault_ops.list_vaults(rt) if rt.cipher is not None else []
    return render_template("monitoring/vaults.html", title="Vaults", form=form, vaults=listing,
                           enabled=rt.cipher is not None), status


@bp.route("/vaults/<name>", methods=["GET", "POST"])
def vault_detail(name: str) -> str | BaseResponse | tuple[str, int]:
    rt = core()
    try:
        vault = vault_ops.find_vault(rt, name)
    except DomainError:
        return render_template("monitoring/message.html", title="Vault unavailable",
                               message=f"No vault {name}, or vaults are off."), 404
    cipher = vault_ops.cipher_of(rt)
    form = VaultEntryForm()
    status = 200
    if form.validate_on_submit():
        key = form.key.data.strip()
        done = submitted(form.key, lambda: vault_ops.set_entry(
            rt, name, key, form.value.data, form.is_secret.data), f"Entry {key} set.", name)
        if done:
            return done
        status = 422
    shown = [(e, vault_ops.shown_value(e, cipher)) for e in vault.entries]
    return render_template("monitoring/vault.html", title=f"Vault {name}",
                           section="monitoring.vaults", vault=vault, entries=shown, form=form,
                           users=vault_ops.vault_users(rt, name)), status


@bp.post("/vaults/<name>/entries/<key>/delete")
def vault_entry_delete(name: str, key: str) -> BaseResponse:
    try:
        vault_ops.delete_entry(core(), name, key)
    except DomainError as exc:
        flash(f"Entry {key} not removed: {exc}", "error")
    else:
        flash(f"Entry {key} removed.", "ok")
    return go(url_for("monitoring.vault_detail", name=name))


@bp.post("/vaults/<name>/delete")
def vault_delete(name: str) -> BaseResponse:
    force = request.form.get("force") == "true"
    try:
        vault_ops.delete_vault(core(), name, force=force)
    except DomainError as exc:
        flash(f"Vault {name} not deleted: {exc}", "error")
        return go(url_for("monitoring.vault_detail", name=name))
    flash(f"Vault {name} deleted.", "ok")
    return go(url_for("monitoring.vaults"))
