"""The lead page's read model: the lead, its evidence and timeline, the person's other leads.

Reading a lead is itself audited ("lead.viewed"): every display of personal data is on record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, not_, select
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from ...models import Activity, ConsentText, Lead, Prospect, StaffUser, Submission
from ...vocab import RESUBMITTED, SUBMITTED
from .. import audit
from ..audit import Actor
from ..errors import Forbidden, NotFound
from .permissions import can_see_evidence, can_view_lead, can_work_lead, has_role, visible_leads

#: The newest timeline entries shown; a lead with more is rare and the rest stay stored.
TIMELINE_LIMIT = 200
#: Possible duplicates listed (same phone, other email).
DUPLICATE_LIMIT = 20


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
    lead: Lead, now: dt.datetime, target: int, requests: Sequence[dt.datetime] = ()
) -> SpeedToLead:
    """How fast this lead was (or is being) answered.

    The clock runs from a request: while nobody has called, from the latest one (as the
    queue's age does; a reopened lead starts over); once contacted, from the last request
    before that first contact (`requests`: when each request reached the lead, which for a
    released spam hold is its release), else the first request.
    """
    contacted = lead.first_contacted_at
    if contacted is None:
        start, end = lead.last_submitted_at, now
    else:
        start = max((t for t in requests if t <= contacted), default=lead.created_at)
        end = contacted
    minutes = max(0, int((end - start).total_seconds() // 60))
    return SpeedToLead(contacted is not None, minutes, target)


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


@dataclass(frozen=True)
class LeadPage:
    """Everything the lead page shows, loaded for one viewer."""

    lead: Lead
    prospect: Prospect
    consent: ConsentText | None
    submissions: list[Submission]
    timeline: list[Activity]
    related: Related
    speed: SpeedToLead
    follow_up_overdue: bool
    can_work: bool
    can_assign: bool
    can_claim: bool
    show_evidence: bool


def load_lead(session: Session, lead_id: int) -> Lead:
    """The lead with its person, program and owner; NotFound when there is none."""
    lead = session.scalars(
        select(Lead)
        .where(Lead.id == lead_id)
        .options(joinedload(Lead.prospect), joinedload(Lead.program), joinedload(Lead.owner))
    ).one_or_none()
    if lead is None:
        raise NotFound(f"lead {lead_id}")
    return lead


def lead_page(
    session: Session, lead: Lead, actor: Actor, *, now: dt.datetime, speed_target: int
) -> LeadPage:
    """Load the page for the actor (Forbidden when they may not see the lead) and audit it."""
    user = actor.staff
    # Checked at every display: a failed action shows the page again, and the lead may
    # have changed hands since it was loaded.
    if not can_view_lead(user, lead):
        raise Forbidden("lead not visible to this user", lead_id=lead.id)
    prospect = lead.prospect
    submissions = list(
        session.scalars(
            select(Submission)
            .where(Submission.lead_id == lead.id)
            .options(selectinload(Submission.consent_text), selectinload(Submission.api_key))
            .order_by(Submission.received_at.desc(), Submission.id.desc())
        )
    )
    timeline = list(
        session.scalars(
            select(Activity)
            .where(Activity.lead_id == lead.id)
            .options(selectinload(Activity.actor))
            .order_by(Activity.created_at.desc(), Activity.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    consent = (
        session.get(ConsentText, prospect.consent_text_id) if prospect.consent_text_id else None
    )
    audit.record(session, "lead.viewed", actor, target_type="lead", target_id=lead.id)
    return LeadPage(
        lead=lead,
        prospect=prospect,
        consent=consent,
        submissions=submissions,
        timeline=timeline,
        related=related(session, user, lead),
        speed=speed_to_lead(lead, now, speed_target, _arrivals(submissions, timeline)),
        follow_up_overdue=lead.next_follow_up_at is not None and lead.next_follow_up_at < now,
        can_work=can_work_lead(user, lead),
        can_assign=has_role(user, "manager"),
        can_claim=lead.owner_id is None,
        show_evidence=can_see_evidence(user),
    )


def _arrivals(submissions: Sequence[Submission], timeline: Sequence[Activity]) -> list[dt.datetime]:
    """When each request reached the lead: its timeline entry's time (a released spam hold
    reached it when released), else (an entry beyond the timeline's limit) when it was sent."""
    reached = {
        a.submission_id: a.created_at
        for a in timeline
        if a.kind in (SUBMITTED, RESUBMITTED) and a.submission_id is not None
    }
    return [reached.get(s.id, s.received_at) for s in submissions]


def related(session: Session, user: StaffUser, lead: Lead) -> Related:
    """What the lead page shows about the person's other leads and same-phone people."""
    prospect = lead.prospect
    visible = visible_leads(user)
    hidden = not_(visible) if visible is not None else None
    mine = (Lead.prospect_id == prospect.id, Lead.id != lead.id)
    other_leads = list(
        session.scalars(
            select(Lead)
            .where(*mine, *([visible] if visible is not None else []))
            .options(joinedload(Lead.program), joinedload(Lead.owner))
            .order_by(Lead.created_at.desc())
        )
    )
    hidden_other = 0
    if hidden is not None:
        hidden_other = (
            session.scalar(select(func.count()).select_from(Lead).where(*mine, hidden)) or 0
        )
    duplicates: list[Lead] = []
    hidden_people = 0
    if prospect.phone:
        same_phone = (Prospect.phone == prospect.phone, Prospect.id != prospect.id)
        duplicates = list(
            session.scalars(
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
            theirs_visible = visible_leads(user, theirs)
            assert theirs_visible is not None  # noqa: S101 - the same user as `hidden`
            shown = (
                select(theirs.id)
                .where(theirs.prospect_id == Lead.prospect_id, theirs_visible)
                .exists()
            )
            hidden_people = (
                session.scalar(
                    select(func.count(func.distinct(Lead.prospect_id)))
                    .join(Lead.prospect)
                    .where(*same_phone, hidden, ~shown)
                )
                or 0
            )
    return Related(other_leads, hidden_other, duplicates, hidden_people)
