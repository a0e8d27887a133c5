"""LeadForm: the request-more-information service behind a college's program pages."""

from __future__ import annotations

from typing import Any

from flask import Flask

from . import cli, config, db, errors, migrate, security, staff
from .extensions import csrf, limiter
from .resources import resource_folder


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, database, extensions, blueprints, commands."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=resource_folder("templates"),
        static_folder=resource_folder("static"),
    )
    config.load_config(app, test_config)
    db.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from .health import bp as health_bp
    from .intake.views import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(health_bp)
    staff.init_app(app)

    errors.init_app(app)
    cli.init_app(app)
    migrate.init_app(app)
    app.jinja_env.globals["site_name"] = app.config["SITE_NAME"]
    app.jinja_env.globals["privacy_url"] = app.config["PRIVACY_URL"]
    return app
