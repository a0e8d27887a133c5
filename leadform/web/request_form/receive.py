"""Taking a request-info POST, the same way at every web door.

What is the web's: the signed form token (a stale one re-shows the form with every value
kept), the consent version the form showed, the commit. What is the rule's (spam checks,
validation, what is stored): the core's submit use case. The door says how the request
arrived (its Evidence) and answers with its own pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, render_template, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...context import settings
from ...core.errors import ValidationFailed
from ...core.intake import store, submit
from ...core.intake.catalog import Catalog, CatalogCache, ConsentInfo, consent_version
from ...core.intake.inquiry import Evidence
from ...core.intake.tokens import FormToken, FormTokenError, issue_form_token, read_form_token
from .forms import RequestInfoForm, Sent

RESUBMIT_NOTICE = (
    "This form was open for a while, so we couldn't send it yet. "
    "Your answers are still here: please check them and select Request information again."
)

NOT_SAVED_NOTICE = (
    "We couldn't save your request yet because of a problem on our side. "
    "Your answers are still here: please select Request information again in a minute."
)

_CATALOG = "leadform.catalog_cache"


def submit_limit() -> str:
    """SUBMIT_RATE_LIMIT, read per request (tests change it)."""
    return str(current_app.config["SUBMIT_RATE_LIMIT"])


#: The per-IP submission limit, one budget for every web door (program pages and embed),
#: so a second door does not double what one address may send.
SUBMIT_LIMIT_SCOPE = "request-info-submit"


def init_app(app: Flask) -> None:
    """One per-process catalog cache (CATALOG_CACHE_SECONDS) for every door of the app."""
    app.extensions[_CATALOG] = CatalogCache(app.config["CATALOG_CACHE_SECONDS"])


def catalog_cache() -> CatalogCache:
    """The current app's per-process catalog cache (CATALOG_CACHE_SECONDS)."""
    cache: CatalogCache = current_app.extensions[_CATALOG]
    return cache


@dataclass(frozen=True)
class Reply:
    """What became of a POST, for the door to answer with its own pages."""

    #: Stored (or already stored under this form's key): show the thanks.
    done: bool = False
    #: The program of what was stored (for the thanks), when done.
    program_name: str | None = None
    program_slug: str | None = None
    #: Not done: show the form again with this status and notice (its fields hold the
    #: values, messages and the token to send next).
    status: int = 200
    notice: str | None = None
    #: No active consent text: the form cannot be offered at all (503).
    unavailable: bool = False
    #: Not done: the form token the form shown again carries (None: the one sent, as is).
    form_token: str | None = None
    #: Not done because the input broke the rules: the messages by field.
    failed: ValidationFailed | None = None

    def show_on(self, form: RequestInfoForm) -> None:
        """Put the token to send next and the messages on the form shown again."""
        if self.form_token is not None:
            form.form_token.data = self.form_token
        if self.failed is not None:
            form.show_errors(self.failed)


def receive(
    db: Session,
    sent: Sent,
    catalog: Catalog,
    *,
    evidence: Callable[[FormToken], Evidence],
    csrf_ok: bool = True,
    fresh_referrer: str | None = None,
) -> Reply:
    """Check the form token, hand the request to the submit use case, commit once.

    `evidence` builds how the request arrived from the verified token (its referrer is the
    landing referrer given when the form was served). `csrf_ok=False` (a door that checks
    CSRF found it stale) re-shows the form keeping the token. `fresh_referrer` goes into a
    new token when the one sent was missing or forged. No form is built here: a door that
    shows the form again builds it and puts the reply on it (`Reply.show_on`).
    """
    try:
        token = read_form_token(settings(), request.form.get("form_token"))
        consent = consent_shown(db, token, catalog)
    except FormTokenError as exc:
        fresh = reissue_form_token(exc, catalog, fresh_referrer)
        return Reply(status=400, notice=RESUBMIT_NOTICE, form_token=fresh)
    if not csrf_ok:
        # The form token is still good: keep it, so the time trap goes on counting from
        # when the form was first served and a quick second click is not taken for a bot.
        kept = token_for_page(token, catalog)
        return Reply(status=400, notice=RESUBMIT_NOTICE, form_token=kept)
    if consent is None:
        return Reply(unavailable=True)

    received = submit.Received(
        fields={**sent.fields, "website": sent.website},
        evidence=evidence(token),
        # No look-up of the key first: a double click or replay is rare, and the unique
        # key turns it into a rollback and the same thanks page (below).
        idempotency_key=token.idempotency_key,
        consent=consent,
        form_age=token.age,
        served_url=request.host_url,  # links in the mail follow it in development
    )
    try:
        done = submit.submit(db, received, programs=catalog.by_slug, settings=settings())
        db.commit()
    except ValidationFailed as failed:
        db.rollback()
        return Reply(status=422, form_token=token_for_page(token, catalog), failed=failed)
    except IntegrityError:
        # Two copies of one form racing past each other meet at the unique key: the loser
        # rolls back and gets the same thanks page as the first time, naming the program of
        # what was stored even when this copy (back button, another program) asked another.
        db.rollback()
        stored = store.find_submission(db, token.idempotency_key)
        if stored is None:
            raise
        program = stored.program
        return Reply(
            done=True,
            program_name=program.name if program else None,
            program_slug=program.slug if program else None,
        )
    return Reply(
        done=True,
        program_name=done.program.name if done.program else None,
        program_slug=done.program.slug if done.program else None,
    )


def consent_unavailable() -> tuple[str, int]:
    """The 503 page a form door shows when no consent text is active (the catalog is not
    loaded): nothing can be stored without the exact wording a person agreed to."""
    current_app.logger.error("no active consent text: run `flask programs load`")
    return render_template("errors/unavailable.html"), 503


def keep_token_after_outage(form: RequestInfoForm, catalog: Catalog) -> None:
    """The form shown again because the database could not be reached keeps its token.

    The same nonce and time: the same idempotency key, so if the request did reach the
    database before the connection broke, sending it again finds it instead of storing it
    twice, and the time trap goes on counting from when the form was first served.
    """
    try:
        token = read_form_token(settings(), request.form.get("form_token"))
    except FormTokenError:
        return  # kept as sent: the next send shows the form with a fresh one, values kept
    form.form_token.data = token_for_page(token, catalog)


def consent_shown(db: Session, token: FormToken, catalog: Catalog) -> ConsentInfo | None:
    """The consent text version the form showed: it is the one the person agreed to.

    A token from before versions were kept in it gets the active version. A version that
    no longer exists cannot be evidenced: the form counts as expired and is shown again.
    """
    if token.consent_id is None:
        return catalog.consent
    if catalog.consent is not None and catalog.consent.id == token.consent_id:
        return catalog.consent
    consent = consent_version(db, token.consent_id)
    if consent is None:
        raise FormTokenError("expired", token)
    return consent


def token_for_page(token: FormToken, catalog: Catalog) -> str:
    """The form token for a form shown again with the current consent text.

    The same token when that text is the one it was issued with; else the same nonce, time
    and referrer with the version now shown, so the evidence matches what the person saw.
    """
    shown = catalog.consent.id if catalog.consent is not None else None
    if token.consent_id is None or token.consent_id == shown:
        # Unchanged; a token without a version gets the active one when it comes back.
        return request.form.get("form_token", "")
    return issue_form_token(
        settings(),
        referrer=token.referrer or None,
        issued_at=token.issued_at,
        consent_id=shown,
        nonce=token.nonce,
    )


def reissue_form_token(exc: FormTokenError, catalog: Catalog, referrer: str | None) -> str:
    """A new token for a form served again because its token was refused.

    A genuine token that only grew old belonged to a form someone filled in long ago: its
    replacement counts as already past the time trap, so the person can simply select the
    button again. A missing or forged token gets a plain new one (with `referrer`):
    otherwise a bot could skip the time trap by posting once without a token and again
    with the one it got back. (Tokens signed with a rotated-out key still verify while it
    is in LEADFORM_SECRET_KEY_FALLBACKS.)
    """
    consent_id = catalog.consent.id if catalog.consent is not None else None
    config = settings()
    if exc.token is not None:
        issued_at = time.time() - config.min_form_seconds
        return issue_form_token(
            config, referrer=exc.token.referrer or None, issued_at=issued_at, consent_id=consent_id
        )
    return issue_form_token(config, referrer=referrer, consent_id=consent_id)
