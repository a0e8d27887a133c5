"""Talking to the world: SMTP (or files in development) and signed webhooks."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from ..core.settings import Settings


class DeliveryError(Exception):
    """A delivery failed; the worker retries it later."""


def send_email(
    settings: Settings,
    to: list[str],
    subject: str,
    body: str,
    *,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Send a plain-text email through LEADFORM_SMTP_URL, or write it to the instance folder."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="leadform")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")

    url = settings.smtp_url
    if not url:
        folder = Path(settings.mail_folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.eml"
        (folder / name).write_bytes(bytes(message))
        return
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port
    timeout = settings.smtp_timeout_seconds
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port or 465, timeout=timeout, context=ssl.create_default_context()
            )
        elif parts.scheme == "smtp":
            client = smtplib.SMTP(host, port or 587, timeout=timeout)
        else:
            raise DeliveryError(f"unsupported SMTP URL scheme {parts.scheme!r}")
        with client:
            if parts.scheme == "smtp":
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                elif parts.username:
                    # Never send the password in the clear: a stripped STARTTLS offer is an attack.
                    raise DeliveryError("SMTP server does not offer STARTTLS; refusing to log in")
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP: {exc}") from exc


#: Connecting must be quick: a receiver that does not answer is retried later, and a
#: worker must not sit on a message (the read timeout is LEADFORM_WEBHOOK_TIMEOUT_SECONDS).
CONNECT_TIMEOUT_SECONDS = 3.0


def webhook_headers(secret: str | None, body: dict[str, Any], raw: str) -> dict[str, str]:
    """Standard Webhooks headers: webhook-id (the body's id), -timestamp, -signature."""
    event_id = str(body["id"])
    now = dt.datetime.now(dt.UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LeadForm-Webhook/2",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
    }
    if secret:
        headers["webhook-signature"] = Webhook(secret).sign(event_id, now, raw)
    return headers


def post_webhook(settings: Settings, url: str, body: dict[str, Any]) -> None:
    """POST the event to a receiver, signed per Standard Webhooks; anything but 2xx fails.

    A redirect is a failure, never followed: following one would turn the POST into a GET
    (and the event would be lost while counted as sent) or send it somewhere unintended.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError("webhook URL must be http(s)")
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True)
    headers = webhook_headers(settings.webhook_secret, body, raw)
    timeout = httpx.Timeout(settings.webhook_timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, content=raw.encode(), headers=headers)
    except httpx.HTTPError as exc:  # connection refused, timeouts, protocol errors
        raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
    if response.is_redirect:
        where = response.headers.get("Location", "")
        raise DeliveryError(
            f"webhook answered {response.status_code} (redirect to {where!r}, not followed)"
        )
    if not response.is_success:
        raise DeliveryError(f"webhook answered {response.status_code}")
