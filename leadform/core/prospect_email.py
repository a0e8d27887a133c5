"""Email to prospects: the signed stop-emails link and the withdrawal it records.

Every confirmation carries a link (and List-Unsubscribe headers, RFC 8058) that needs no
login: a token signed with the app's secret names the person. Following it records the
withdrawal for email on the Prospect; later confirmations are not sent.
"""

from __future__ import annotations

import datetime as dt

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from ..models import Prospect
from . import audit
from .audit import Actor
from .settings import Settings

_SALT = "leadform.email-opt-out"


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer([*settings.secret_key_fallbacks, settings.secret_key], salt=_SALT)


def opt_out_token(settings: Settings, prospect_id: int) -> str:
    """The token of a person's stop-emails link (no expiry: old emails keep working)."""
    return str(_serializer(settings).dumps({"p": prospect_id}))


def read_opt_out_token(settings: Settings, token: str) -> int | None:
    """The person a stop-emails token names, or None when it is not one of ours."""
    if not token or len(token) > 200:
        return None
    try:
        payload = _serializer(settings).loads(token)
    except BadSignature:
        return None
    value = payload.get("p") if isinstance(payload, dict) else None
    return value if type(value) is int else None


def withdraw_email(
    session: Session, prospect_id: int, actor: Actor, now: dt.datetime
) -> Prospect | None:
    """Record that the person wants no more email (idempotent); None if they are gone."""
    prospect = session.get(Prospect, prospect_id, with_for_update=True)
    if prospect is None:
        return None
    if prospect.email_opt_out_at is None:
        prospect.email_opt_out_at = now
        audit.record(
            session,
            "prospect.email_withdrawn",
            actor,
            target_type="prospect",
            target_id=prospect.id,
        )
        session.flush()
    return prospect
