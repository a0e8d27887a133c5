"""LeadForm: the request-more-information service behind a college's program pages."""

from __future__ import annotations

from typing import Any

from flask import Flask

from . import config, context
from .resources import resource_folder


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, database, extensions, blueprints, commands.

    The composition root: settings are read here, once, into a frozen Settings object that
    the adapters hand to the core (docs/architecture.md).
    """
    from . import cli
    from .cli import migrate
    from .web import errors, security, staff
    from .web.api.views import bp as api_bp
    from .web.embed.views import bp as embed_bp
    from .web.extensions import csrf, limiter
    from .web.health import bp as health_bp
    from .web.public.views import bp as public_bp
    from .web.request_form import receive as request_form

    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=resource_folder("templates"),
        static_folder=resource_folder("static"),
    )
    config.load_config(app, test_config)
    context.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    request_form.init_app(app)

    app.register_blueprint(public_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(embed_bp)
    staff.init_app(app)

    errors.init_app(app)
    cli.init_app(app)
    migrate.init_app(app)
    app.jinja_env.globals["site_name"] = app.config["SITE_NAME"]
    return app
