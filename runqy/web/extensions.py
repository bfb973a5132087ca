"""Flask extensions, created once here and bound to each app in `create_app` (init_app)."""

from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from runqy.core.models import Base

# Built on the core's declarative base: one metadata and one session for every table.
db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# The dashboard's login (the JSON API authenticates with keys) and its CSRF tokens.
login_manager = LoginManager()
csrf = CSRFProtect()
