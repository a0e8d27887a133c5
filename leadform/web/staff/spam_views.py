"""The spam review page: managers see what was held back and release or dismiss it."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from ...context import get_session, settings
from ...core import audit
from ...core import quarantine as spam
from ...core.errors import NotFound
from ...db import utcnow
from ...models import Submission
from .access import actor, can_see_evidence, is_db_id, role_required, user
from .blueprint import bp

_ALREADY = "Someone has already decided on this request."
#: The review page's query string: which list, and the page after a submission id.
QUERY_ARGS: tuple[str, ...] = ("view", "after")


@bp.get("/spam")
@role_required("manager")
def spam_review() -> str:
    """Held submissions to review (or the reviewed ones), newest first."""
    reviewed = request.args.get("view") == "reviewed"
    after = request.args.get("after") or None
    db = get_session()
    page = spam.quarantine_page(db, reviewed=reviewed, after=after)
    pending = spam.pending_count(db)
    g.spam_pending = pending  # the header's badge shows the same count
    # A request that can never become a lead shows why instead of a button that would fail.
    config = settings()
    problems = {} if reviewed else {s.id: spam.release_problem(s, config) for s in page.submissions}
    # Quarantined requests hold personal data too: every view of them is audited.
    audit.record(
        db,
        "spam.viewed",
        actor(),
        view="reviewed" if reviewed else "to_review",
        after=page.after,
        submission_ids=[item.id for item in page.submissions],
    )
    db.commit()
    return render_template(
        "staff/spam.html",
        page=page,
        reviewed=reviewed,
        pending=spam.pending_label(pending),
        problems=problems,
        reason_labels=spam.reason_labels,
        show_evidence=can_see_evidence(user()),
    )


def to_review_badge() -> str:
    """The staff header's count next to "Spam" for managers: "" when nothing waits.

    One capped count per page (spam.pending_count), reused when the page counted already.
    """
    if "spam_pending" not in g:
        g.spam_pending = spam.pending_count(get_session())
    pending: int = g.spam_pending
    return spam.pending_label(pending) if pending else ""


def _back() -> Response:
    return redirect(url_for("staff.spam_review"), code=303)


def _held(submission_id: int) -> Submission:
    held = spam.held_submission(get_session(), submission_id)
    if held is None:
        raise NotFound(f"held submission {submission_id}")
    return held


@bp.post("/spam/<int(max=2147483647):submission_id>/release")
@role_required("manager")
def spam_release(submission_id: int) -> Response:
    """Send a held request through intake after all: it becomes a lead, owner notified."""
    db = get_session()
    held = _held(submission_id)
    # Flash messages travel in the session cookie, which is signed but not encrypted: they
    # name the request by its number, never the person (names, emails stay on the page).
    request_no = f"Request #{held.id}"
    try:
        outcome = spam.release(
            db, held, actor(), settings(), served_url=request.host_url, now=utcnow()
        )
        db.commit()
    except spam.ReleaseError as exc:
        db.rollback()
        audit.record(
            db,
            "spam.release_refused",
            actor(),
            target_type="submission",
            target_id=submission_id,
            reason=str(exc),
        )
        db.commit()
        flash(f"{request_no} not released. {exc}", "danger")
        return _back()
    except IntegrityError:  # two managers at once: the unique review row decides
        db.rollback()
        flash(_ALREADY, "warning")
        return _back()
    if outcome.lead_created:
        result = "The request is now a new lead in the queue."
    elif outcome.reopened:
        result = "Their closed lead is open again, with this request."
    else:
        result = "The request was added to their lead."
    flash(f"{request_no} released. {result}", "success")
    return _back()


@bp.post("/spam/<int(max=2147483647):submission_id>/dismiss")
@role_required("manager")
def spam_dismiss(submission_id: int) -> Response:
    """Confirm a held request as spam; it stays stored, off the list to review."""
    db = get_session()
    held = _held(submission_id)
    try:
        spam.dismiss(db, held, actor())
        db.commit()
    except (spam.ReleaseError, IntegrityError):
        db.rollback()
        flash(_ALREADY, "warning")
        return _back()
    flash("Dismissed as spam.", "success")
    return _back()


@bp.post("/spam/dismiss")
@role_required("manager")
def spam_dismiss_page() -> Response:
    """Dismiss every request still to review among those the page showed (bots come in bulk)."""
    ids = [int(raw) for raw in request.form.getlist("ids")[: spam.PAGE_SIZE] if is_db_id(raw)]
    db = get_session()
    try:
        dismissed = spam.dismiss_many(db, ids, actor())
        db.commit()
    except IntegrityError:  # another manager decided on one of them meanwhile
        db.rollback()
        flash(
            "Someone decided on some of these meanwhile; nothing was changed. Try again.", "warning"
        )
        return _back()
    flash(f"Dismissed {dismissed} as spam.", "success")
    return _back()
