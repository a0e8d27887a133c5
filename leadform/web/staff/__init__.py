"""The staff workspace under /staff: sign-in, the queue, lead pages, spam review, export."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

# Each view module adds its routes to the blueprint when imported.
from . import auth, delivery_views, lead_views, spam_views, views  # noqa: F401
from .blueprint import bp
from .display import (
    duration,
    mailto_href,
    phone_display,
    staff_time,
    staff_time_iso,
    staff_tz_label,
    tel_href,
)
from .spam_views import to_review_badge


def init_app(app: Flask) -> None:
    """Register the staff blueprint, its template filters and the login manager."""
    # One way to show a time on every staff page: in STAFF_TIMEZONE, never raw UTC.
    app.add_template_filter(staff_time, "staff_time")
    app.add_template_filter(staff_time_iso, "staff_time_iso")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(mailto_href, "mailto_href")
    app.add_template_filter(tel_href, "tel_href")
    app.add_template_global(staff_tz_label, "staff_tz_label")
    app.add_template_global(delivery_views.delivery_attention, "delivery_attention")
    # One way to show a phone number on every staff page (queue, lead, spam review).
    app.add_template_global(phone_display, "phone_display")
    app.add_template_global(to_review_badge, "spam_to_review")

    # Flask-Login's context processor loads the user on every template render, public pages
    # included, where "strong" session protection would then rewrite an anonymous visitor's
    # session cookie. The lazy proxy below loads the user only where a template uses it.
    auth.login_manager.init_app(app, add_context_processor=False)
    app.jinja_env.globals["current_user"] = current_user
    app.register_blueprint(bp)
