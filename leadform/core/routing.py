"""Routing: which counselor a new lead goes to, by a program's weighted team.

Each program has a team of staff members with weights (default 1). A new lead goes to the
next available member (active, not away) by smooth weighted round robin (the algorithm
nginx uses): every available member's running weight grows by its weight, the largest
takes the lead and gives back the team's total. Over 100 leads a weight-2 member gets twice
a weight-1 member's, interleaved rather than in runs. A returning prospect's new lead goes
to the counselor who already owns one of their open leads, when that counselor is on the
team and available; that takes no turn. Nobody available: the lead stays unassigned.

The team's rows are locked (FOR UPDATE; SQLite's write lock is taken at BEGIN) while a turn
is taken inside the intake transaction, so concurrent submissions take turns one after the
other: none is skipped or doubled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from ..models import Lead, Program, RoutingMember, StaffUser
from ..vocab import CLOSED_STATUSES
from . import audit
from .audit import Actor
from .errors import ActionError

MAX_WEIGHT = 100


@dataclass
class Turn:
    """A routing decision for one new lead, taken only if the lead is really new."""

    owner_id: int | None
    #: The team's rows, locked, with the running weights after this turn (None: no turn).
    members: list[RoutingMember] | None = None
    chosen: RoutingMember | None = None
    total: int = 0

    def take(self) -> None:
        """Record the turn (call once the lead was inserted, so a resubmission takes none)."""
        if self.members is None or self.chosen is None:
            return
        for member in self.members:
            if _available(member):
                member.current_weight += member.weight
        self.chosen.current_weight -= self.total


def _available(member: RoutingMember) -> bool:
    user = member.staff_user
    return user.active and not user.away


def plan(session: Session, program_id: int, prospect_id: int) -> Turn:
    """Decide who a new lead for this program and person goes to, locking the team's rows."""
    members = list(
        session.scalars(
            select(RoutingMember)
            .where(RoutingMember.program_id == program_id)
            .options(joinedload(RoutingMember.staff_user))
            .order_by(RoutingMember.id)
            .with_for_update(of=RoutingMember),
            execution_options={"populate_existing": True},
        )
    )
    available = [m for m in members if _available(m)]
    if not available:
        return Turn(owner_id=None)
    ids = [m.staff_user_id for m in available]
    # The counselor who already works with this person keeps them (no turn taken).
    keeper = session.scalar(
        select(Lead.owner_id)
        .where(
            Lead.prospect_id == prospect_id,
            Lead.owner_id.in_(ids),
            Lead.status.not_in(CLOSED_STATUSES),
        )
        .order_by(Lead.last_submitted_at.desc(), Lead.id.desc())
        .limit(1)
    )
    if keeper is not None:
        return Turn(owner_id=keeper)
    total = sum(m.weight for m in available)
    # The largest running weight after this turn's increase; ties go to the earliest member.
    chosen = max(available, key=lambda m: (m.current_weight + m.weight, -m.id))
    return Turn(owner_id=chosen.staff_user_id, members=members, chosen=chosen, total=total)


@dataclass(frozen=True)
class TeamMember:
    """One member of a team as an operator sets it: an email and a weight."""

    email: str
    weight: int = 1


def parse_member(text: str) -> TeamMember:
    """ "dana@college.edu:2" -> TeamMember("dana@college.edu", 2); the weight defaults to 1."""
    email, _, raw = text.rpartition(":") if ":" in text else (text, "", "")
    if not raw:
        return TeamMember(text.strip())
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WEIGHT:
        raise ActionError(f"{text}: the weight must be a whole number from 1 to {MAX_WEIGHT}.")
    return TeamMember(email.strip(), int(raw))


def set_team(
    session: Session, program: Program, members: Sequence[tuple[StaffUser, int]], actor: Actor
) -> list[RoutingMember]:
    """Replace the program's routing team (an empty list: every lead stays unassigned)."""
    seen: set[int] = set()
    for user, weight in members:
        if user.id in seen:
            raise ActionError(f"{user.email} is listed twice.")
        if not 1 <= weight <= MAX_WEIGHT:
            raise ActionError(f"{user.email}: the weight must be from 1 to {MAX_WEIGHT}.")
        if not user.active:
            raise ActionError(f"{user.email}'s account is not active.")
        seen.add(user.id)
    session.execute(delete(RoutingMember).where(RoutingMember.program_id == program.id))
    team = [
        RoutingMember(program_id=program.id, staff_user_id=user.id, weight=weight)
        for user, weight in members
    ]
    session.add_all(team)
    audit.record(
        session,
        "routing.team_set",
        actor,
        target_type="program",
        target_id=program.id,
        program=program.slug,
        members=[{"staff_user_id": u.id, "weight": w} for u, w in members],
    )
    session.flush()
    return team


def team(session: Session, program_id: int) -> list[RoutingMember]:
    """The program's routing team, in the order it was set."""
    return list(
        session.scalars(
            select(RoutingMember)
            .where(RoutingMember.program_id == program_id)
            .options(joinedload(RoutingMember.staff_user))
            .order_by(RoutingMember.id)
        )
    )


def routed_program_ids(session: Session) -> set[int]:
    """The programs that have a routing team at all (the others skip routing outright)."""
    return set(session.scalars(select(RoutingMember.program_id).distinct()))
