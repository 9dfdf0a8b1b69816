"""A small library catalogue that keeps its migrations inside the package.

Run it with ``make demo``; ``flask --app example_app db ...`` works on it like on any app.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from flask_versioning import Versioning

from . import seeds
from .models import db
from .views import bp

versioning = Versioning()
seeds.register(versioning)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the app; ``config`` overrides the defaults (tests pass their database URL)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev"),
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL", "sqlite:///example.db"),
        # `make demo` turns the status page on; it only ever answers in debug mode, locally.
        VERSIONING_STATUS_PAGE=os.environ.get("VERSIONING_STATUS_PAGE"),
    )
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    versioning.init_app(app, db)
    app.register_blueprint(bp)
    return app
