"""The signed form token: idempotency key, time trap and landing referrer in one value."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


class FormTokenError(Exception):
    """The token is missing, forged or too old: the person is asked to submit again."""


@dataclass(frozen=True)
class FormToken:
    """What a verified token tells: who it was issued to and how long ago."""

    nonce: str
    issued_at: float
    referrer: str

    @property
    def age(self) -> float:
        """Seconds since the form was served."""
        return time.time() - self.issued_at

    @property
    def idempotency_key(self) -> str:
        """The key under which a submission of this form is stored once."""
        return f"form:{self.nonce}"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="leadform.form-token")


def issue_form_token(referrer: str | None = None) -> str:
    """Sign a fresh token for a form being served now."""
    payload = {"n": secrets.token_urlsafe(16), "t": round(time.time(), 3)}
    if referrer:
        payload["r"] = referrer[:1000]
    return _serializer().dumps(payload)


def read_form_token(value: str | None) -> FormToken:
    """Verify a token from a POST; raise FormTokenError when it cannot be trusted."""
    if not value or len(value) > 2000:
        raise FormTokenError("missing")
    try:
        payload = _serializer().loads(value)
        token = FormToken(
            nonce=str(payload["n"]),
            issued_at=float(payload["t"]),
            referrer=str(payload.get("r", "")),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        raise FormTokenError("invalid") from None
    if token.age > current_app.config["FORM_TOKEN_MAX_AGE"]:
        raise FormTokenError("expired")
    return token
