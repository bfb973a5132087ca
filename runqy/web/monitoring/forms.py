"""WTForms for the dashboard's plain HTML forms (setup, login, settings, config and vault editors).

Every form inherits Flask-WTF's CSRF field; the HTMX buttons send the same token as a header.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

MIN_PASSWORD_LENGTH = 8
POLL_CHOICES = [SelectChoice(value, label) for value, label in
                (("2", "2 s"), ("5", "5 s"), ("10", "10 s"), ("30", "30 s"), ("0", "off"))]
THEME_CHOICES = [SelectChoice(value, label) for value, label in
                 (("system", "System"), ("light", "Light"), ("dark", "Dark"))]


def new_password_fields(label: str) -> tuple[PasswordField, PasswordField]:
    """A new password and its confirmation (created where called, so they render there)."""
    password = PasswordField(label, validators=[
        DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=256,
                               message="Use at least 8 characters.")],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(f"Confirm {label[0].lower()}{label[1:]}",
                            validators=[DataRequired(), EqualTo("password", "Passwords differ.")],
                            render_kw={"autocomplete": "new-password"})
    return password, confirm


class SetupForm(FlaskForm):
    # A shape check only: the address is a login name, nothing is ever mailed to it.
    email = EmailField("Email", validators=[
        DataRequired(), Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email address."),
        Length(max=255)],
                       render_kw={"autocomplete": "username"})
    password, confirm = new_password_fields("Password")
    # Removed from the form when the server needs no setup token (loopback only).
    token = StringField("Setup token", validators=[DataRequired(), Length(max=128)],
                        render_kw={"autocomplete": "off"})


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=256)],
                            render_kw={"autocomplete": "current-password"})
    password, confirm = new_password_fields("New password")


class SettingsForm(FlaskForm):
    poll_interval = SelectField("Refresh interval", choices=POLL_CHOICES)
    theme = SelectField("Theme", choices=THEME_CHOICES)


class QueueConfigForm(FlaskForm):
    """A parent queue: its YAML-shaped body (deployment, sub-queues, schema) as JSON text."""

    name = StringField("Parent queue name", validators=[DataRequired(), Length(max=128)])
    body = TextAreaField("Configuration (JSON)", validators=[DataRequired()])


class VaultForm(FlaskForm):
    name = StringField("Vault name", validators=[DataRequired(), Length(max=64)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])


class VaultEntryForm(FlaskForm):
    key = StringField("Key", validators=[DataRequired(), Length(max=255)])
    value = PasswordField("Value", validators=[DataRequired()],
                          render_kw={"autocomplete": "off"})
    is_secret = BooleanField("Secret (masked)", default=True)
