"""The signed form token: idempotency key, time trap and landing referrer in one value."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from ..settings import Settings


class FormTokenError(Exception):
    """The token is missing, forged or too old: the person is asked to submit again."""

    def __init__(self, reason: str, token: FormToken | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: For an expired token: what it said (its signature was good, only its age is not).
        self.token = token


@dataclass(frozen=True)
class FormToken:
    """What a verified token tells: who it was issued to and how long ago."""

    nonce: str
    issued_at: float
    referrer: str
    #: The consent text version shown with the form (None: a token from before it was kept).
    consent_id: int | None = None

    @property
    def age(self) -> float:
        """Seconds since the form was served."""
        return time.time() - self.issued_at

    @property
    def idempotency_key(self) -> str:
        """The key under which a submission of this form is stored once."""
        return f"form:{self.nonce}"


def _serializer(settings: Settings) -> URLSafeSerializer:
    # As Flask signs sessions: the current key signs, old keys (SECRET_KEY_FALLBACKS) still
    # verify, so forms open while the key was rotated keep working.
    keys = [*settings.secret_key_fallbacks, settings.secret_key]
    return URLSafeSerializer(keys, salt="leadform.form-token")


def issue_form_token(
    settings: Settings,
    referrer: str | None = None,
    *,
    issued_at: float | None = None,
    consent_id: int | None = None,
    nonce: str | None = None,
) -> str:
    """Sign a fresh token for a form served now (or, re-serving a form, at `issued_at`).

    `consent_id` is the consent text version the page shows: the submission records that
    version, not whichever is active when it arrives. `nonce` keeps a re-served form's
    idempotency key.
    """
    when = time.time() if issued_at is None else issued_at
    payload: dict[str, str | float | int] = {
        "n": nonce or secrets.token_urlsafe(16),
        "t": round(when, 3),
    }
    if referrer:
        payload["r"] = referrer[:1000]
    if consent_id is not None:
        payload["c"] = consent_id
    return _serializer(settings).dumps(payload)


def read_form_token(settings: Settings, value: str | None) -> FormToken:
    """Verify a token from a POST; raise FormTokenError when it cannot be trusted."""
    if not value or len(value) > 2000:
        raise FormTokenError("missing")
    try:
        payload = _serializer(settings).loads(value)
        token = FormToken(
            nonce=str(payload["n"]),
            issued_at=float(payload["t"]),
            referrer=str(payload.get("r", "")),
            consent_id=_optional_int(payload.get("c")),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        raise FormTokenError("invalid") from None
    if not math.isfinite(token.issued_at):
        raise FormTokenError("invalid")
    if token.age > settings.form_token_max_age:
        raise FormTokenError("expired", token)
    return token


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int:  # a signed token only ever holds an int here
        raise ValueError("consent id")
    return value
