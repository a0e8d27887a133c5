"""What every adapter shares about the running Flask app: its database session and settings.

The web views, the CLI commands and the development worker run inside an app context;
they take the session and the typed settings from here and hand them to the core.
Transactions: the session opens on first use and is closed (rolled back if uncommitted)
when the app context ends; the adapter commits once (docs/architecture.md).
"""

from __future__ import annotations

from flask import Flask, current_app, g
from limits.storage import Storage
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .core.settings import Settings
from .db import build_engine

SETTINGS = "leadform.settings"


def init_app(app: Flask) -> None:
    """Create the app's engine and session factory and close the session after each request."""
    engine = build_engine(
        app.config["DATABASE_URL"],
        pool_size=app.config["DATABASE_POOL_SIZE"],
        echo=app.config["DATABASE_ECHO"],
        busy_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
    )
    app.extensions["leadform.engine"] = engine
    app.extensions["leadform.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_engine() -> Engine:
    """Return the current app's engine."""
    engine: Engine = current_app.extensions["leadform.engine"]
    return engine


def get_session() -> Session:
    """Return the session for this request or CLI command, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["leadform.sessionmaker"]()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    """Close (and so roll back anything uncommitted) at the end of the app context."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def get_sessionmaker() -> sessionmaker[Session]:
    """The current app's session factory (for work that opens its own transactions)."""
    factory: sessionmaker[Session] = current_app.extensions["leadform.sessionmaker"]
    return factory


def settings() -> Settings:
    """The current app's typed settings, built once in create_app."""
    value: Settings = current_app.extensions[SETTINGS]
    return value


def rate_limit_storage() -> Storage | None:
    """The storage the app's rate limits count in (Flask-Limiter's, as configured by
    LEADFORM_RATELIMIT_STORAGE_URI): the sign-in throttle's counters live there. None when
    rate limiting is off (LEADFORM_RATELIMIT_ENABLED=false)."""
    for limiter in current_app.extensions.get("limiter", ()):
        storage: Storage = limiter.storage
        return storage
    return None


def rate_limit_prefix() -> str:
    """The prefix this app's rate-limit keys carry (RATELIMIT_KEY_PREFIX, usually empty)."""
    return str(current_app.config.get("RATELIMIT_KEY_PREFIX") or "")
