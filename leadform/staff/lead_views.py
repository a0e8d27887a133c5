"""The lead page: a lead's details, evidence and timeline, and the actions that work it.

Views are thin: load the lead, check the object-level permission, parse the form, call a
service of leads.py, commit, redirect (POST/redirect/GET). A rejected action re-renders the
page with 422 and the message next to the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, not_, select
from sqlalchemy.orm import aliased, joinedload, selectinload
from werkzeug.wrappers import Response

from .. import audit
from ..db import get_session, utcnow
from ..forms import select_choices
from ..intake.validation import EDUCATION_LEVELS, MILITARY_AFFILIATIONS, country_choices
from ..models import Activity, ConsentText, Lead, Prospect, StaffUser, Submission
from . import bp, leads
from .access import (
    can_see_evidence,
    can_view_lead,
    can_work_lead,
    deny,
    has_role,
    is_db_id,
    role_required,
    speed_to_lead_minutes,
    visible_leads,
)
from .forms import AssignForm, ClaimForm, ContactForm, FollowUpForm, NoteForm, StatusForm

#: The newest timeline entries shown; a lead with more is rare and the rest stay stored.
TIMELINE_LIMIT = 200
#: Possible duplicates listed (same phone, other email).
DUPLICATE_LIMIT = 20

RenderResult = tuple[str, int]


# --- time and display helpers -------------------------------------------------------------


def staff_tz() -> ZoneInfo:
    """The time zone staff read and type times in (config STAFF_TIMEZONE)."""
    return ZoneInfo(current_app.config["STAFF_TIMEZONE"])


def staff_time(value: dt.datetime | None, with_zone: bool = True) -> str:
    """A UTC moment as staff read it: "Mar 1, 2026 2:30 PM EST" in the staff time zone."""
    if value is None:
        return ""
    local = value.astimezone(staff_tz())
    hour = local.hour % 12 or 12
    text = f"{local:%b} {local.day}, {local.year} {hour}:{local:%M} {local:%p}"
    return f"{text} {local:%Z}" if with_zone else text


def duration(minutes: int) -> str:
    """Minutes as "12 min", "3 h 5 min" or "2 d 4 h"."""
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def staff_time_iso(value: str) -> str:
    """A stored ISO timestamp (timeline data) as staff read it."""
    try:
        return staff_time(dt.datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return value


def staff_tz_label() -> str:
    """The staff time zone as a short label: "Indianapolis (EST)"."""
    tz = staff_tz()
    city = str(tz.key).rsplit("/", 1)[-1].replace("_", " ")
    return f"{city} ({dt.datetime.now(tz):%Z})"


def phone_display(e164: str | None) -> str:
    """An E.164 number formatted for reading: national in its own country, else international."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region == current_app.config["DEFAULT_COUNTRY"]
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def start_term_label(value: str) -> str:
    """ "2027-spring" as "Spring 2027"; "undecided" as "Not sure yet"."""
    if value == "undecided":
        return "Not sure yet"
    year, _, season = value.partition("-")
    return f"{season.title()} {year}" if year.isdigit() and season else value


@dataclass(frozen=True)
class SpeedToLead:
    """Minutes from the lead's arrival to first contact, or its age while nobody has called."""

    contacted: bool
    minutes: int
    target: int

    @property
    def late(self) -> bool:
        """Over the speed-to-lead target."""
        return self.minutes > self.target


def speed_to_lead(
    lead: Lead, now: dt.datetime, requests: Sequence[dt.datetime] = ()
) -> SpeedToLead:
    """How fast this lead was (or is being) answered.

    The clock runs from a request: while nobody has called, from the latest one (as the
    queue's age does; a reopened lead starts over); once contacted, from the last request
    before that first contact (`requests`: the submissions' times), else the first request.
    """
    contacted = lead.first_contacted_at
    if contacted is None:
        start, end = lead.last_submitted_at, now
    else:
        start = max((t for t in requests if t <= contacted), default=lead.created_at)
        end = contacted
    minutes = max(0, int((end - start).total_seconds() // 60))
    return SpeedToLead(contacted is not None, minutes, speed_to_lead_minutes())


# --- loading and checks -------------------------------------------------------------------


def _lead_for_page(lead_id: int) -> Lead:
    lead = (
        get_session()
        .scalars(
            select(Lead)
            .where(Lead.id == lead_id)
            .options(joinedload(Lead.prospect), joinedload(Lead.program), joinedload(Lead.owner))
        )
        .one_or_none()
    )
    if lead is None:
        abort(404)
    return lead


def _lead_for_action(lead_id: int, allowed: Callable[[StaffUser, Lead], bool]) -> Lead:
    """Load and lock the lead for a change, or deny when this user may not make it.

    The row lock (PostgreSQL; SQLite's write lock is taken at BEGIN) serializes two staff
    members changing the same lead, so neither works from a stale owner or status.
    """
    lead = (
        get_session()
        .scalars(select(Lead).where(Lead.id == lead_id).with_for_update())
        .one_or_none()
    )
    if lead is None:
        abort(404)
    if not allowed(current_user, lead):
        deny("lead not workable by this user", lead_id=lead.id)
    return lead


def _can_claim(user: StaffUser, lead: Lead) -> bool:
    """Claiming is for unassigned leads (or a no-op on one's own)."""
    return lead.owner_id in (None, user.id) or has_role(user, "manager")


def _staff_choices() -> list[Any]:
    """Active staff members for the assign select, plus the unassigned queue."""
    stmt = select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.name)
    pairs = [
        (str(u.id), f"{u.name} ({u.role}{', away' if u.away else ''})")
        for u in get_session().scalars(stmt)
    ]
    return select_choices([("", "Unassigned"), *pairs])


@dataclass(frozen=True)
class Related:
    """The person's other leads and the possible duplicates, as far as the viewer may see them.

    Leads the viewer may not open are only counted: their names, emails and programs are
    another counselor's business (privacy is object-level, not a missing link).
    """

    other_leads: list[Lead]
    hidden_other_leads: int
    duplicates: list[Lead]
    hidden_duplicate_people: int


def _related(db: Any, user: StaffUser, lead: Lead) -> Related:
    """Load what the lead page shows about the person's other leads and same-phone people."""
    prospect = lead.prospect
    visible = visible_leads(user)
    hidden = not_(visible) if visible is not None else None
    mine = (Lead.prospect_id == prospect.id, Lead.id != lead.id)
    other_leads = list(
        db.scalars(
            select(Lead)
            .where(*mine, *([visible] if visible is not None else []))
            .options(joinedload(Lead.program), joinedload(Lead.owner))
            .order_by(Lead.created_at.desc())
        )
    )
    hidden_other = 0
    if hidden is not None:
        hidden_other = db.scalar(select(func.count()).select_from(Lead).where(*mine, hidden))
    duplicates: list[Lead] = []
    hidden_people = 0
    if prospect.phone:
        same_phone = (Prospect.phone == prospect.phone, Prospect.id != prospect.id)
        duplicates = list(
            db.scalars(
                select(Lead)
                .join(Lead.prospect)
                .where(*same_phone, *([visible] if visible is not None else []))
                .options(
                    joinedload(Lead.prospect), joinedload(Lead.program), joinedload(Lead.owner)
                )
                .order_by(Lead.created_at.desc())
                .limit(DUPLICATE_LIMIT)
            )
        )
        if hidden is not None:
            # People of whom the viewer may open no lead at all; the others are listed above.
            theirs = aliased(Lead)
            shown = (
                select(theirs.id)
                .where(theirs.prospect_id == Lead.prospect_id, visible_leads(user, theirs))
                .exists()
            )
            hidden_people = db.scalar(
                select(func.count(func.distinct(Lead.prospect_id)))
                .join(Lead.prospect)
                .where(*same_phone, hidden, ~shown)
            )
    return Related(other_leads, hidden_other, duplicates, hidden_people)


# --- the page -----------------------------------------------------------------------------


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


def _render(lead: Lead, code: int = 200, failed: str = "", **forms: Any) -> RenderResult:
    """Render the lead page and audit the view (every display of the lead is a view)."""
    db = get_session()
    user = current_user
    # Checked here too: a failed action re-renders the page, and the lead may have changed hands.
    if not can_view_lead(user, lead):
        deny("lead not visible to this user", lead_id=lead.id)
    now = utcnow()
    prospect = lead.prospect

    submissions = list(
        db.scalars(
            select(Submission)
            .where(Submission.lead_id == lead.id)
            .options(selectinload(Submission.consent_text))
            .order_by(Submission.received_at.desc(), Submission.id.desc())
        )
    )
    timeline = list(
        db.scalars(
            select(Activity)
            .where(Activity.lead_id == lead.id)
            .options(selectinload(Activity.actor))
            .order_by(Activity.created_at.desc(), Activity.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    related = _related(db, user, lead)
    consent = db.get(ConsentText, prospect.consent_text_id) if prospect.consent_text_id else None

    all_forms = _default_forms(lead)
    all_forms.update(forms)
    manager = has_role(user, "manager")
    if manager:
        all_forms["assign_form"].owner.choices = _staff_choices()

    audit.record(db, "lead.viewed", actor=user, target_type="lead", target_id=lead.id)
    html = render_template(
        "staff/lead.html",
        lead=lead,
        prospect=prospect,
        consent=consent,
        submissions=submissions,
        timeline=timeline,
        timeline_limit=TIMELINE_LIMIT,
        other_leads=related.other_leads,
        hidden_other_leads=related.hidden_other_leads,
        duplicates=related.duplicates,
        hidden_duplicate_people=related.hidden_duplicate_people,
        now=now,
        speed=speed_to_lead(lead, now, [s.received_at for s in submissions]),
        follow_up_overdue=lead.next_follow_up_at is not None and lead.next_follow_up_at < now,
        can_work=can_work_lead(user, lead),
        can_assign=manager,
        can_claim=lead.owner_id is None,
        show_evidence=can_see_evidence(user),
        status_labels=leads.STATUS_LABELS,
        channel_labels=dict(leads.CONTACT_CHANNELS),
        outcome_labels=dict(leads.CONTACT_OUTCOMES),
        education_labels=dict(EDUCATION_LEVELS),
        military_labels=dict(MILITARY_AFFILIATIONS),
        country_names=dict(country_choices()),
        phone_display=phone_display,
        start_term_label=start_term_label,
        failed=failed,
        **all_forms,
    )
    db.commit()
    return html, code


@bp.get("/leads/<int(max=2147483647):lead_id>")
@role_required("counselor")
def lead_detail(lead_id: int) -> RenderResult:
    """The lead page."""
    return _render(_lead_for_page(lead_id))


# --- actions ------------------------------------------------------------------------------


@bp.post("/keep-alive")
@role_required("counselor")
def keep_alive() -> tuple[str, int]:
    """Typing counts as activity: the lead page calls this while someone writes a note.

    The idle timeout is for a workspace left alone, not for a counselor who spends half an
    hour on a call typing notes (their text would be lost to the sign-in page). The staff
    before-request hook has already renewed the session; nothing else happens here.
    """
    return "", 204


def _done(lead: Lead, message: str) -> Response:
    """Commit, say what happened, and go back to the lead page (POST/redirect/GET)."""
    get_session().commit()
    flash(message, "success")
    return redirect(url_for("staff.lead_detail", lead_id=lead.id), code=303)


def _rejected(lead_id: int, name: str, form: Any, exc: leads.LeadActionError | None = None) -> Any:
    """Undo anything half-done and show the page again with the message by the field."""
    if exc is not None:
        field = getattr(form, exc.field, None) if exc.field else None
        if field is not None:
            field.errors = [*field.errors, str(exc)]
        else:
            form.form_errors.append(str(exc))
    get_session().rollback()
    return _render(_lead_for_page(lead_id), 422, failed=name, **{name: form})


@bp.post("/leads/<int(max=2147483647):lead_id>/status")
@role_required("counselor")
def lead_status(lead_id: int) -> Any:
    """Change the lead's status."""
    lead = _lead_for_action(lead_id, can_work_lead)
    form = StatusForm()
    if not form.validate():
        return _rejected(lead_id, "status_form", form)
    try:
        changed = leads.change_status(get_session(), lead, form.status.data, current_user)
    except leads.LeadActionError as exc:
        return _rejected(lead_id, "status_form", form, exc)
    label = leads.STATUS_LABELS[lead.status]
    return _done(lead, f"Status changed to {label}." if changed else f"Status is already {label}.")


@bp.post("/leads/<int(max=2147483647):lead_id>/assign")
@role_required("manager")
def lead_assign(lead_id: int) -> Any:
    """Give the lead to a staff member or back to the unassigned queue (managers)."""
    lead = _lead_for_action(lead_id, can_work_lead)
    form = AssignForm()
    if not form.validate():
        return _rejected(lead_id, "assign_form", form)
    db = get_session()
    owner: StaffUser | None = None
    if form.owner.data:  # empty: back to the unassigned queue
        owner = db.get(StaffUser, int(form.owner.data)) if is_db_id(form.owner.data) else None
        if owner is None:
            exc = leads.LeadActionError("Choose a staff member from the list.", "owner")
            return _rejected(lead_id, "assign_form", form, exc)
    try:
        changed = leads.assign(db, lead, owner, current_user)
    except leads.LeadActionError as exc:
        return _rejected(lead_id, "assign_form", form, exc)
    if not changed:
        return _done(lead, "No change: the lead already had that owner.")
    return _done(lead, f"Assigned to {owner.name}." if owner else "Moved to the unassigned queue.")


@bp.post("/leads/<int(max=2147483647):lead_id>/claim")
@role_required("counselor")
def lead_claim(lead_id: int) -> Any:
    """Take an unassigned lead."""
    lead = _lead_for_action(lead_id, _can_claim)
    form = ClaimForm()
    if not form.validate():
        return _rejected(lead_id, "claim_form", form)
    try:
        changed = leads.claim(get_session(), lead, current_user)
    except leads.LeadActionError as exc:
        return _rejected(lead_id, "claim_form", form, exc)
    return _done(lead, "The lead is yours." if changed else "The lead was already yours.")


@bp.post("/leads/<int(max=2147483647):lead_id>/notes")
@role_required("counselor")
def lead_note(lead_id: int) -> Any:
    """Add a note to the timeline."""
    lead = _lead_for_action(lead_id, can_work_lead)
    form = NoteForm()
    if not form.validate():
        return _rejected(lead_id, "note_form", form)
    try:
        leads.add_note(get_session(), lead, form.body.data, current_user)
    except leads.LeadActionError as exc:
        return _rejected(lead_id, "note_form", form, exc)
    return _done(lead, "Note added.")


@bp.post("/leads/<int(max=2147483647):lead_id>/contacts")
@role_required("counselor")
def lead_contact(lead_id: int) -> Any:
    """Log a call, email or text and its outcome."""
    lead = _lead_for_action(lead_id, can_work_lead)
    form = ContactForm()
    if not form.validate():
        return _rejected(lead_id, "contact_form", form)
    try:
        leads.log_contact(
            get_session(),
            lead,
            form.channel.data,
            form.outcome.data,
            form.note.data or "",
            current_user,
        )
    except leads.LeadActionError as exc:
        return _rejected(lead_id, "contact_form", form, exc)
    channel = dict(leads.CONTACT_CHANNELS)[form.channel.data].lower()
    return _done(lead, f"Contact attempt logged ({channel}).")


@bp.post("/leads/<int(max=2147483647):lead_id>/follow-up")
@role_required("counselor")
def lead_follow_up(lead_id: int) -> Any:
    """Set or clear the next follow-up."""
    lead = _lead_for_action(lead_id, can_work_lead)
    form = FollowUpForm(tz=staff_tz())
    if not form.validate():
        return _rejected(lead_id, "follow_up_form", form)
    try:
        changed = leads.set_follow_up(get_session(), lead, form.when, current_user)
    except leads.LeadActionError as exc:
        return _rejected(lead_id, "follow_up_form", form, exc)
    if form.when is None:
        return _done(lead, "Follow-up cleared." if changed else "There was no follow-up to clear.")
    return _done(lead, f"Follow-up set for {staff_time(form.when)}.")
