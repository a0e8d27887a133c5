"""Talking to the world: SMTP (or files in development) and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.settings import Settings


class DeliveryError(Exception):
    """A delivery failed; the worker retries it later."""


def send_email(settings: Settings, to: list[str], subject: str, body: str) -> None:
    """Send a plain-text email through LEADFORM_SMTP_URL, or write it to the instance folder."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="leadform")
    message.set_content(body)

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


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex: what receivers check."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return mac.hexdigest()


def post_webhook(settings: Settings, url: str, event_id: str, payload: dict[str, Any]) -> None:
    """POST the event as JSON with an HMAC signature; any non-2xx answer is a failure."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LeadForm-Webhook/1",
        "X-LeadForm-Event-Id": event_id,
        "X-LeadForm-Timestamp": timestamp,
    }
    secret = settings.webhook_secret
    if secret:
        headers["X-LeadForm-Signature"] = "sha256=" + sign(secret, timestamp, body)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError("webhook URL must be http(s)")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        timeout = settings.webhook_timeout_seconds
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            if not 200 <= response.status < 300:
                raise DeliveryError(f"webhook answered {response.status}")
    except OSError as exc:  # URLError, HTTPError, timeouts
        raise DeliveryError(f"webhook: {exc}") from exc
