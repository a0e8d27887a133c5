"""The sign-in throttle's counters: whose they are, and starting an account's afresh.

Failed sign-ins are counted three ways (the web adapter applies the limits with
Flask-Limiter; this module only names the counters):

- per account and client (`client_key`): who keeps guessing one account from one address is
  stopped, while its owner, elsewhere, still signs in;
- per account across all clients (`account_key`): a much higher ceiling against guessing
  spread over many addresses;
- per client address (Flask-Limiter's default key), whichever accounts it tries.

An account is named by an HMAC of the email as typed, never the text itself: people type
passwords into the email field, and the counters live in shared storage (Redis). Every
account key carries a generation number kept in the same storage; `unlock` moves it on, so
all of that account's counters, from every address, start again at zero at once (the old
ones simply expire). Nothing here needs a web framework: the storage is a `limits` storage.
"""

from __future__ import annotations

import hashlib
import hmac

from limits import parse_many
from limits.storage import Storage

from ..settings import Settings
from .users import normalize_staff_email

#: How long an account's generation number is kept at least (a week), beyond any window.
_MIN_GENERATION_SECONDS = 7 * 24 * 3600


def account_token(settings: Settings, email: str) -> str:
    """A stable pseudonym for the typed email (case and surrounding spaces ignored)."""
    typed = normalize_staff_email(email)[:254].encode("utf-8", "surrogatepass")
    digest = hmac.new(settings.secret_key.encode(), typed, hashlib.sha256).hexdigest()
    return digest[:32]


def _generation_key(prefix: str, token: str) -> str:
    return f"leadform-login-generation/{prefix}/{token}"


def account_key(storage: Storage, settings: Settings, email: str, *, prefix: str = "") -> str:
    """The counter key for failures on this account from any client (the ceiling)."""
    token = account_token(settings, email)
    generation = storage.get(_generation_key(prefix, token))
    return f"login:{token}:{generation}"


def client_key(
    storage: Storage, settings: Settings, email: str, client: str, *, prefix: str = ""
) -> str:
    """The counter key for failures on this account from this client address."""
    return f"{account_key(storage, settings, email, prefix=prefix)}:{client}"


def unlock(storage: Storage, settings: Settings, email: str, *, prefix: str = "") -> None:
    """Start every sign-in counter of this account afresh, from every client address.

    The per-address limit (LOGIN_RATE_LIMIT_IP) is the address's, not the account's: it
    stays. The generation number is kept longer than any login window, so when it expires
    no counter of the generation before it is still alive.
    """
    windows = [
        item.get_expiry()
        for limits in (settings.login_rate_limit_account, settings.login_rate_limit_account_ceiling)
        for item in parse_many(limits)
    ]
    keep = max([_MIN_GENERATION_SECONDS, *(2 * w for w in windows)])
    storage.incr(_generation_key(prefix, account_token(settings, email)), keep)
