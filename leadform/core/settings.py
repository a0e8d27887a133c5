"""Typed settings: read once when the app starts, then passed to the core as an argument.

The web app builds them from its configuration in ``create_app`` (see ``leadform.config``);
a script or a test can build them with ``Settings(...)`` directly. The core never reads
the environment or a framework's configuration itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

#: Where links in mail point when neither LEADFORM_BASE_URL nor the request that wrote the
#: event says (see outbox.link_base): the address `make run` serves on by default.
DEFAULT_BASE_URL = "http://127.0.0.1:5000"

#: How long requests are kept, as the privacy notice at /privacy says it (a college sets its own).
DEFAULT_PRIVACY_RETENTION = (
    "We keep your request, and our notes about being in touch with you, for as long as we are "
    "talking with you about your studies and for up to three years after we last hear from "
    "you; then we delete them. If you apply, your application is kept under the college's "
    "student records policy instead."
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting the core and the adapters act on (names as LEADFORM_<NAME>, lowercased)."""

    env: str = "development"
    site_name: str = "Lakeside College"
    privacy_url: str | None = None
    privacy_contact_email: str | None = None
    privacy_contact_name: str = "Office of Admissions"
    privacy_retention: str = DEFAULT_PRIVACY_RETENTION
    secret_key: str = ""
    secret_key_fallbacks: tuple[str, ...] = ()

    # Intake.
    email_check_deliverability: bool = False
    min_form_seconds: float = 3.0
    form_token_max_age: int = 24 * 3600
    default_country: str = "US"
    catalog_cache_seconds: float = 10.0

    # The JSON API.
    api_max_body_bytes: int = 16 * 1024
    api_idempotency_timeout_seconds: float = 60
    api_cors_max_age: int = 600

    # Staff workspace.
    speed_to_lead_minutes: int = 15
    staff_timezone: str = "America/Indiana/Indianapolis"
    staff_idle_timeout_minutes: float = 30
    staff_absolute_timeout_hours: float = 12
    queue_page_size: int = 50
    queue_count_cap: int = 1000
    argon2_profile: str = "RFC_9106_LOW_MEMORY"
    # Failed staff sign-ins allowed (Flask-Limiter strings): per client address, per account
    # from one client, and per account from all clients together (core/accounts/throttle.py).
    login_rate_limit_ip: str = "30 per 15 minutes"
    login_rate_limit_account: str = "10 per 15 minutes"
    login_rate_limit_account_ceiling: str = "100 per hour"

    # Mail, notifications, webhooks.
    smtp_url: str | None = None
    smtp_timeout_seconds: float = 10
    mail_from: str = "LeadForm <no-reply@localhost>"
    notify_emails: tuple[str, ...] = ()
    #: LEADFORM_BASE_URL; None when it is not set (see outbox.link_base).
    base_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout_seconds: float = 10
    outbox_max_attempts: int = 8
    #: The fewest seconds a worker's claim on a message lasts (see outbox.lease): a worker
    #: that died holding a message leaves it to others after this (or longer, see lease).
    outbox_min_lease_seconds: float = 60
    #: How to reach the admissions office, as the prospect's confirmation says it.
    office_contact: str = ""
    #: When the prospect will hear from a counselor, as the confirmation promises it.
    response_time: str = "within one business day"
    #: Where mail goes as .eml files when no SMTP server is configured.
    mail_folder: str = "instance/mail"

    _tz: ZoneInfo | None = field(default=None, repr=False, compare=False)

    @property
    def production(self) -> bool:
        """True in production, where the strict checks apply."""
        return self.env == "production"

    @property
    def staff_tz(self) -> ZoneInfo:
        """The time zone staff read and type times in."""
        return self._tz if self._tz is not None else ZoneInfo(self.staff_timezone)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], **extra: Any) -> Settings:
        """Settings from a mapping with upper-case keys (a Flask config), typed and checked."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name.startswith("_"):
                continue
            key = f.name.upper()
            if key in config and config[key] is not None:
                values[f.name] = config[key]
        if "notify_emails" in values:
            values["notify_emails"] = _as_list(values["notify_emails"])
        if "secret_key_fallbacks" in values:
            values["secret_key_fallbacks"] = tuple(str(k) for k in values["secret_key_fallbacks"])
        if "secret_key" in values:
            values["secret_key"] = str(values["secret_key"])
        for name in ("base_url",):
            if not values.get(name):
                values.pop(name, None)
        values.update(extra)
        values["_tz"] = ZoneInfo(str(values.get("staff_timezone", cls.staff_timezone)))
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (tests, one-off scripts)."""
        if "staff_timezone" in changes:
            changes["_tz"] = ZoneInfo(changes["staff_timezone"])
        if "notify_emails" in changes:
            changes["notify_emails"] = _as_list(changes["notify_emails"])
        return dataclasses.replace(self, **changes)


def _as_list(value: str | Iterable[object]) -> tuple[str, ...]:
    """A comma-separated string (or a list) of addresses as a tuple, blanks dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())
