"""The lead page: a lead's details, evidence and timeline, and the actions that work it.

Views are thin, in Indico's request-handler shape: parse the form, lock and check the lead
(core lock_lead), call the core action, commit once, redirect (POST/redirect/GET). A
rejected action shows the page again with 422 and the message next to the field; a denied
one raises Forbidden, which the app's error handler audits (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from ...context import get_session, settings
from ...core.errors import ActionError
from ...core.intake.validation import EDUCATION_LEVELS, MILITARY_AFFILIATIONS, country_choices
from ...core.leads import actions, lead_page
from ...core.leads.permissions import can_assign, can_claim, can_work_lead
from ...db import utcnow
from ...models import Lead, StaffUser
from ...vocab import CONTACT_CHANNELS, CONTACT_OUTCOMES, STATUS_LABELS
from ..forms import filled, select_choices
from .access import actor, is_db_id, role_required
from .blueprint import bp
from .display import staff_time, staff_tz, start_term_label
from .forms import AssignForm, ClaimForm, ContactForm, FollowUpForm, NoteForm, StatusForm
from .views import from_value, lead_nav, queue_args

RenderResult = tuple[str, int]


def _staff_choices() -> list[Any]:
    """Active staff members for the assign select, plus the unassigned queue."""
    stmt = select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.name)
    pairs = [
        (str(u.id), f"{u.name} ({u.role}{', away' if u.away else ''})")
        for u in get_session().scalars(stmt)
    ]
    return select_choices([("", "Unassigned"), *pairs])


def _default_forms(lead: Lead) -> dict[str, Any]:
    """Fresh action forms, prefilled from the lead; `formdata=None` so a re-rendered POST
    does not leak into the forms that were not submitted."""
    tz = staff_tz()
    follow_up = FollowUpForm(formdata=None, tz=tz)
    if lead.next_follow_up_at is not None:
        local = lead.next_follow_up_at.astimezone(tz)
        follow_up.date.data = local.date().isoformat()
        follow_up.time.data = local.strftime("%H:%M")
    return {
        "status_form": StatusForm(formdata=None, status=lead.status),
        "assign_form": AssignForm(formdata=None, owner=str(lead.owner_id or "")),
        "claim_form": ClaimForm(formdata=None),
        "note_form": NoteForm(formdata=None),
        "contact_form": ContactForm(formdata=None),
        "follow_up_form": follow_up,
    }


def _keep_from() -> dict[str, Any]:
    """The queue view the lead page was opened from, for the URL of a link or form on it."""
    raw = request.args.get("from")
    return {} if raw is None else {"from": from_value(queue_args(raw))}


def _render(lead: Lead, code: int = 200, failed: str = "", **forms: Any) -> RenderResult:
    """Render the lead page; the core adds the view's audit row, which the caller commits."""
    db = get_session()
    now = utcnow()
    page = lead_page.lead_page(
        db, lead, actor(), now=now, speed_target=settings().speed_to_lead_minutes
    )
    nav = lead_nav(lead, request.args.get("from"))
    all_forms = _default_forms(lead)
    all_forms.update(forms)
    if page.can_assign:
        all_forms["assign_form"].owner.choices = _staff_choices()
    html = render_template(
        "staff/lead.html",
        lead=lead,
        prospect=page.prospect,
        consent=page.consent,
        submissions=page.submissions,
        timeline=page.timeline,
        timeline_limit=lead_page.TIMELINE_LIMIT,
        other_leads=page.related.other_leads,
        hidden_other_leads=page.related.hidden_other_leads,
        duplicates=page.related.duplicates,
        hidden_duplicate_people=page.related.hidden_duplicate_people,
        now=now,
        speed=page.speed,
        follow_up_overdue=page.follow_up_overdue,
        can_work=page.can_work,
        can_assign=page.can_assign,
        can_claim=page.can_claim,
        show_evidence=page.show_evidence,
        status_labels=STATUS_LABELS,
        channel_labels=dict(CONTACT_CHANNELS),
        outcome_labels=dict(CONTACT_OUTCOMES),
        education_labels=dict(EDUCATION_LEVELS),
        military_labels=dict(MILITARY_AFFILIATIONS),
        country_names=dict(country_choices()),
        start_term_label=start_term_label,
        failed=failed,
        nav=nav,
        keep={"from": nav.origin} if nav is not None else {},
        **all_forms,
    )
    return html, code


@bp.get("/leads/<int(max=2147483647):lead_id>")
@role_required("counselor")
def lead_detail(lead_id: int) -> RenderResult:
    """The lead page."""
    db = get_session()
    page = _render(lead_page.load_lead(db, lead_id))
    db.commit()  # the view's audit row
    return page


@bp.post("/keep-alive")
@role_required("counselor")
def keep_alive() -> tuple[str, int]:
    """Typing counts as activity: the lead page calls this while someone writes a note.

    The idle timeout is for a workspace left alone, not for a counselor who spends half an
    hour on a call typing notes (their text would be lost to the sign-in page). The staff
    before-request hook has already renewed the session; nothing else happens here.
    """
    return "", 204


Action = Callable[[Lead, Any], str]


def _lead_action(
    lead_id: int, form: Any, name: str, allowed: actions.Permission, work: Action
) -> Any:
    """The skeleton of every lead action: parse, lock and check, act, commit once, redirect.

    Lock and check come from the core (actions.lock_lead), the same as for bulk actions:
    Forbidden and NotFound go to the app's error handlers. A form or action error shows
    the page again with the message by its field, after rolling back anything half-done.
    """
    db = get_session()
    lead = actions.lock_lead(db, lead_id, actor(), allowed)
    if not form.validate():
        return _rejected(lead_id, name, form)
    try:
        message = work(lead, form)
    except ActionError as exc:
        return _rejected(lead_id, name, form, exc)
    db.commit()
    flash(message, "success")
    # Back to the lead page as it was opened: with the queue view it came from.
    return redirect(url_for("staff.lead_detail", lead_id=lead.id, **_keep_from()), code=303)


def _rejected(lead_id: int, name: str, form: Any, exc: ActionError | None = None) -> Any:
    """Undo anything half-done and show the page again with the message by the field."""
    if exc is not None:
        field = getattr(form, exc.field, None) if exc.field else None
        if field is not None:
            field.errors = [*field.errors, str(exc)]
        else:
            form.form_errors.append(str(exc))
    db = get_session()
    db.rollback()
    page = _render(lead_page.load_lead(db, lead_id), 422, failed=name, **{name: form})
    db.commit()  # only the view's audit row: the failed action was rolled back above
    return page


@bp.post("/leads/<int(max=2147483647):lead_id>/status")
@role_required("counselor")
def lead_status(lead_id: int) -> Any:
    """Change the lead's status."""

    def work(lead: Lead, form: StatusForm) -> str:
        changed = actions.change_status(get_session(), lead, form.status.data, actor(), utcnow())
        label = STATUS_LABELS[lead.status]
        return f"Status changed to {label}." if changed else f"Status is already {label}."

    return _lead_action(lead_id, StatusForm(), "status_form", can_work_lead, work)


@bp.post("/leads/<int(max=2147483647):lead_id>/assign")
@role_required("manager")
def lead_assign(lead_id: int) -> Any:
    """Give the lead to a staff member or back to the unassigned queue (managers)."""

    def work(lead: Lead, form: AssignForm) -> str:
        db = get_session()
        owner: StaffUser | None = None
        if form.owner.data:  # empty: back to the unassigned queue
            owner = db.get(StaffUser, int(form.owner.data)) if is_db_id(form.owner.data) else None
            if owner is None:
                raise ActionError("Choose a staff member from the list.", "owner")
        if not actions.assign(db, lead, owner, actor(), utcnow()):
            return "No change: the lead already had that owner."
        return f"Assigned to {owner.name}." if owner else "Moved to the unassigned queue."

    return _lead_action(lead_id, AssignForm(), "assign_form", can_assign, work)


@bp.post("/leads/<int(max=2147483647):lead_id>/claim")
@role_required("counselor")
def lead_claim(lead_id: int) -> Any:
    """Take an unassigned lead."""

    def work(lead: Lead, _form: ClaimForm) -> str:
        changed = actions.claim(get_session(), lead, actor(), utcnow())
        return "The lead is yours." if changed else "The lead was already yours."

    return _lead_action(lead_id, ClaimForm(), "claim_form", can_claim, work)


@bp.post("/leads/<int(max=2147483647):lead_id>/notes")
@role_required("counselor")
def lead_note(lead_id: int) -> Any:
    """Add a note to the timeline."""

    def work(lead: Lead, form: NoteForm) -> str:
        actions.add_note(get_session(), lead, filled(form.body), actor(), utcnow())
        return "Note added."

    return _lead_action(lead_id, NoteForm(), "note_form", can_work_lead, work)


@bp.post("/leads/<int(max=2147483647):lead_id>/contacts")
@role_required("counselor")
def lead_contact(lead_id: int) -> Any:
    """Log a call, email or text and its outcome."""

    def work(lead: Lead, form: ContactForm) -> str:
        actions.log_contact(
            get_session(),
            lead,
            form.channel.data,
            form.outcome.data,
            form.note.data or "",
            actor(),
            utcnow(),
        )
        channel = dict(CONTACT_CHANNELS)[form.channel.data].lower()
        return f"Contact attempt logged ({channel})."

    return _lead_action(lead_id, ContactForm(), "contact_form", can_work_lead, work)


@bp.post("/leads/<int(max=2147483647):lead_id>/follow-up")
@role_required("counselor")
def lead_follow_up(lead_id: int) -> Any:
    """Set or clear the next follow-up."""

    def work(lead: Lead, form: FollowUpForm) -> str:
        changed = actions.set_follow_up(get_session(), lead, form.when, actor(), utcnow())
        if form.when is None:
            return "Follow-up cleared." if changed else "There was no follow-up to clear."
        return f"Follow-up set for {staff_time(form.when)}."

    return _lead_action(lead_id, FollowUpForm(tz=staff_tz()), "follow_up_form", can_work_lead, work)
