"""Configuration: defaults, LEADFORM_* environment variables, and start-up checks."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from .core.settings import DEFAULT_PRIVACY_RETENTION, Settings

#: Shaped like an email address (one @, no spaces): enough to catch a misplaced value.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

#: Values that must never reach production as a secret key.
WEAK_SECRETS = {"", "dev", "change-me", "changeme", "secret", "development"}


class Defaults:
    """Defaults for every setting; each can be overridden with LEADFORM_<NAME>."""

    ENV = "development"  # "production" turns on the strict start-up checks
    SITE_NAME = "Lakeside College"
    # The college's privacy policy (the consent text points to it): linked under the consent
    # checkbox and in the footer when set; else they link to the built-in notice at /privacy,
    # which the three settings after it fill in.
    PRIVACY_URL: str | None = None
    PRIVACY_CONTACT_EMAIL: str | None = None  # who answers privacy questions and requests
    PRIVACY_CONTACT_NAME = "Office of Admissions"
    PRIVACY_RETENTION = DEFAULT_PRIVACY_RETENTION  # the notice's "How long we keep it"
    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # None: SQLite file in the instance folder
    DATABASE_POOL_SIZE = 5
    DATABASE_ECHO = False
    SQLITE_BUSY_TIMEOUT_MS = 15000

    # Rate limits (Flask-Limiter reads the RATELIMIT_* keys itself).
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = False
    SUBMIT_RATE_LIMIT = "20 per minute;200 per day"
    # Failed staff sign-ins: per client address; per account from one client (who guesses
    # is stopped, its owner elsewhere still signs in); per account from all clients.
    LOGIN_RATE_LIMIT_IP = "30 per 15 minutes"
    LOGIN_RATE_LIMIT_ACCOUNT = "10 per 15 minutes"
    LOGIN_RATE_LIMIT_ACCOUNT_CEILING = "100 per hour"
    # The JSON API (POST /api/v1/leads): per API key (all of a landing page's visitors share
    # it) and per client IP.
    API_RATE_LIMIT_KEY = "600 per minute"
    API_RATE_LIMIT_IP = "60 per minute"

    # Proxies: how many hops in front of the app set X-Forwarded-For.
    TRUSTED_PROXIES = 0

    # Intake.
    EMAIL_CHECK_DELIVERABILITY = False
    MIN_FORM_SECONDS = 3.0  # the time trap: a form submitted faster is treated as a bot
    FORM_TOKEN_MAX_AGE = 24 * 3600  # an older form asks the person to submit again
    DEFAULT_COUNTRY = "US"
    # How long each process may reuse the active programs and consent text it read: a
    # `flask programs load` shows on the public pages within this many seconds.
    CATALOG_CACHE_SECONDS = 10.0
    # The JSON API: the largest request body accepted (413 above it), and how long a request
    # holding an Idempotency-Key may run before a retry with that key may take it over.
    API_MAX_BODY_BYTES = 16 * 1024
    API_IDEMPOTENCY_TIMEOUT_SECONDS = 60
    API_CORS_MAX_AGE = 600  # seconds a browser may cache a preflight answer

    # Staff workspace.
    SPEED_TO_LEAD_MINUTES = 15
    STAFF_TIMEZONE = "America/Indiana/Indianapolis"  # times typed and shown on staff pages
    STAFF_IDLE_TIMEOUT_MINUTES = 30
    STAFF_ABSOLUTE_TIMEOUT_HOURS = 12
    QUEUE_PAGE_SIZE = 50
    QUEUE_COUNT_CAP = 1000  # tab counts stop counting here and show "1,000+"
    ARGON2_PROFILE = "RFC_9106_LOW_MEMORY"  # argon2-cffi profile name; tests use CHEAPEST

    # Mail and notifications.
    SMTP_URL: str | None = None  # None: mail is written to files in the instance folder
    SMTP_TIMEOUT_SECONDS = 10
    MAIL_FROM = "LeadForm <no-reply@localhost>"
    NOTIFY_EMAILS = ""  # comma-separated team address(es) told about unassigned leads
    BASE_URL: str | None = None  # public base URL for links in mail, e.g. https://info.example.edu
    WEBHOOK_URL: str | None = None  # POSTed a signed JSON event for each new or returning lead
    WEBHOOK_SECRET: str | None = None  # HMAC-SHA256 key for the X-LeadForm-Signature header
    WEBHOOK_TIMEOUT_SECONDS = 10
    OUTBOX_MAX_ATTEMPTS = 8
    # The shortest lease on a claimed message: how soon another worker takes over a message
    # whose worker died (the lease also covers SMTP/webhook timeouts x the steps of a delivery).
    OUTBOX_MIN_LEASE_SECONDS = 60
    # The prospect's confirmation email: how to reach the office, when a counselor calls.
    OFFICE_CONTACT = ""
    RESPONSE_TIME = "within one business day"

    # Cookies and CSRF.
    SESSION_COOKIE_NAME = "leadform_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # WTF_CSRF_TIME_LIMIT: set in load_config to the staff session's absolute limit.
    MAX_CONTENT_LENGTH = 256 * 1024  # a request-info form is a few KB; refuse floods early


def load_config(app: Flask, config: dict[str, Any] | None) -> None:
    """Fill app.config from defaults, then the environment or the given test mapping."""
    app.config.from_object(Defaults)
    if config is None:
        app.config.from_prefixed_env("LEADFORM")
    else:
        app.config.update(config)

    # A CSRF token lasts as long as a staff session may (STAFF_ABSOLUTE_TIMEOUT_HOURS): a
    # form open in a live session never fails on an expired token and loses what was typed.
    if config is not None:
        explicit = "WTF_CSRF_TIME_LIMIT" in config
    else:
        explicit = "LEADFORM_WTF_CSRF_TIME_LIMIT" in os.environ
    if not explicit:
        hours = float(app.config["STAFF_ABSOLUTE_TIMEOUT_HOURS"])
        app.config["WTF_CSRF_TIME_LIMIT"] = int(hours * 3600)

    production = app.config["ENV"] == "production"
    if production and "LEADFORM_SESSION_COOKIE_SECURE" not in os.environ:
        app.config["SESSION_COOKIE_SECURE"] = True

    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        db_file = Path(app.instance_path) / "leadform.db"
        app.config["DATABASE_URL"] = f"sqlite:///{db_file}"

    secret = app.config.get("SECRET_KEY")
    if secret is not None and not isinstance(secret, str | bytes):
        # from_prefixed_env parses values as JSON: an all-digit key arrives as an int.
        secret = app.config["SECRET_KEY"] = str(secret)
    if production:
        if not secret or secret.lower() in WEAK_SECRETS or len(secret) < 32:
            raise RuntimeError(
                "LEADFORM_SECRET_KEY must be set to a random value of 32 or more characters "
                "in production (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
    elif not secret:
        app.config["SECRET_KEY"] = _instance_secret(app)
    _check_webhook_secret(app.config.get("WEBHOOK_SECRET"))
    privacy_url = app.config.get("PRIVACY_URL")
    if privacy_url and not str(privacy_url).startswith(("https://", "http://")):
        raise RuntimeError("LEADFORM_PRIVACY_URL must be an http(s):// address.")
    contact = app.config.get("PRIVACY_CONTACT_EMAIL")
    if contact and not _EMAIL.fullmatch(str(contact)):
        raise RuntimeError("LEADFORM_PRIVACY_CONTACT_EMAIL must be an email address.")
    if production:
        _warn_about_production_gaps(app)
    app.extensions["leadform.settings"] = build_settings(app)


def build_settings(app: Flask) -> Settings:
    """The typed, frozen settings the core receives, from the app's configuration."""
    return Settings.from_mapping(app.config, mail_folder=str(Path(app.instance_path) / "mail"))


def refresh_settings(app: Flask) -> Settings:
    """Rebuild the settings after app.config changed (tests that change a setting)."""
    settings = build_settings(app)
    app.extensions["leadform.settings"] = settings
    return settings


def _check_webhook_secret(secret: object) -> None:
    """A webhook secret is Standard Webhooks' `whsec_<base64>`: 24 to 64 random bytes."""
    if not secret:
        return
    text = str(secret)
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not text.startswith("whsec_") or not 24 <= len(key) <= 64:
        raise RuntimeError(
            "LEADFORM_WEBHOOK_SECRET must be whsec_ followed by 24 to 64 random bytes in "
            "base64 (python -c 'import base64, secrets; "
            'print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())\')'
        )


def _warn_about_production_gaps(app: Flask) -> None:
    """Settings that work but are almost certainly wrong with several app servers."""
    if str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory://"):
        app.logger.warning(
            "LEADFORM_RATELIMIT_STORAGE_URI is memory://: each worker counts alone, so rate "
            "limits and the sign-in throttle are per process; use redis:// in production"
        )
    if not app.config.get("PRIVACY_URL") and not app.config.get("PRIVACY_CONTACT_EMAIL"):
        app.logger.warning(
            "Neither LEADFORM_PRIVACY_URL nor LEADFORM_PRIVACY_CONTACT_EMAIL is set: the privacy "
            "notice at /privacy names no address for questions or for a copy or erasure of "
            "someone's data; set one of them"
        )
    if not app.config.get("BASE_URL"):
        app.logger.warning(
            "LEADFORM_BASE_URL is not set: links in notification emails point to 127.0.0.1"
        )


def _instance_secret(app: Flask) -> str:
    """Return a per-install development key kept in the instance folder.

    A file rather than a fresh random value so that sessions survive a restart and
    several local processes (app and worker) agree on it.
    """
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
