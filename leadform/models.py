"""The domain model: programs, people, leads, their evidence, staff and the outbox."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, utcnow
from .vocab import (
    ACTIVITY_KINDS,
    CHANNELS,
    LEAD_STATUSES,
    SPAM_DECISIONS,
    SPAM_VERDICTS,
    STAFF_ROLES,
)
from .vocab import sql_in as _in


class Program(Base):
    """A program a prospect can ask about."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    duration: Mapped[str] = mapped_column(String(80), default="")
    delivery: Mapped[str] = mapped_column(String(80), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    #: Where "nobody on the team is available" goes (None: LEADFORM_NOTIFY_EMAILS).
    team_email: Mapped[str | None] = mapped_column(String(254))
    #: Superseded by the routing team (routing_members); kept for old rows, unused.
    default_owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Program {self.slug}>"


class ConsentText(Base):
    """A versioned disclosure; the active version is shown next to every consent box."""

    __tablename__ = "consent_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StaffUser(Base):
    """A member of the enrollment team.

    It also speaks Flask-Login's user protocol (is_authenticated, is_active, is_anonymous,
    get_id) in plain Python, so the model needs no web framework.
    """

    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(_in("role", STAFF_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="counselor")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Part of the login session id; bumping it signs out every session of the user.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    last_login_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def get_id(self) -> str:
        """The login id: "<id>:<session version>", so bumping the version ends every session."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        """A deactivated account cannot sign in."""
        return self.active

    @property
    def is_authenticated(self) -> bool:
        """A loaded staff user is signed in (the anonymous user is another class)."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Never: see is_authenticated."""
        return False

    def __repr__(self) -> str:
        return f"<StaffUser {self.email} {self.role}>"


class Prospect(Base):
    """A person, identified by normalized email; details follow the newest submission."""

    __tablename__ = "prospects"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_normalized: Mapped[str] = mapped_column(String(254), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    #: The names as searched (core/leads/search.py): " " + folded "first last", e.g.
    #: " jose gomez" for José Gómez. Kept up to date by intake and an ORM hook.
    search_name: Mapped[str] = mapped_column(String(210), default="", server_default="")
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    postal_code: Mapped[str | None] = mapped_column(String(12))
    country: Mapped[str | None] = mapped_column(String(2))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_texts.id"))
    consent_at: Mapped[dt.datetime | None]
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the person asked for no more email (the link in every confirmation); None: not.
    email_opt_out_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    leads: Mapped[list[Lead]] = relationship(back_populates="prospect")

    @property
    def full_name(self) -> str:
        """First and last name as one string."""
        return f"{self.first_name} {self.last_name}".strip()


def new_public_id() -> str:
    """An opaque, unguessable id for a lead, safe to hand to API callers (22 characters)."""
    return secrets.token_urlsafe(16)


_UNASSIGNED = text("owner_id IS NULL")
_HAS_FOLLOW_UP = text("next_follow_up_at IS NOT NULL")
_NEEDS_ATTENTION = text("status IN ('dead', 'no_recipient')")


class Lead(Base):
    """One prospect's interest in one program: the unit of staff work."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("prospect_id", "program_id"),
        CheckConstraint(_in("status", LEAD_STATUSES), name="status"),
        # The staff queue (staff/queue.py) pages through leads newest or oldest first by
        # (last_submitted_at, id) (the latest request: a returning prospect comes back to the
        # top), optionally narrowed by status, owner or program: each index serves one of those
        # orders as a plain range scan, so a deep keyset page costs what page 1 does, and each
        # capped tab count is an index-only scan that LIMIT stops early.
        Index("ix_leads_last_submitted_at_id", "last_submitted_at", "id"),
        Index("ix_leads_status_last_submitted_at_id", "status", "last_submitted_at", "id"),
        Index("ix_leads_owner_id_last_submitted_at_id", "owner_id", "last_submitted_at", "id"),
        Index(
            "ix_leads_owner_id_status_last_submitted_at_id",
            "owner_id",
            "status",
            "last_submitted_at",
            "id",
        ),
        # A counselor's leads in one program (a manager's "program + owner" view, and the
        # tab counts under it): without it the two single-column ranges are ANDed in full.
        Index(
            "ix_leads_owner_id_program_id_status_last_submitted_at_id",
            "owner_id",
            "program_id",
            "status",
            "last_submitted_at",
            "id",
        ),
        Index("ix_leads_program_id_last_submitted_at_id", "program_id", "last_submitted_at", "id"),
        Index(
            "ix_leads_program_id_status_last_submitted_at_id",
            "program_id",
            "status",
            "last_submitted_at",
            "id",
        ),
        # The unassigned queue is small: its own partial index serves it under any program
        # or status filter (an AND of two big indexes would not stop at the LIMIT).
        Index(
            "ix_leads_unassigned_program_id_status_last_submitted_at_id",
            "program_id",
            "status",
            "last_submitted_at",
            "id",
            postgresql_where=_UNASSIGNED,
            sqlite_where=_UNASSIGNED,
        ),
        # Follow-ups: soonest first overall, per counselor, per program; overdue counts.
        # Only leads with a follow-up date are indexed ("< now" implies IS NOT NULL).
        Index(
            "ix_leads_next_follow_up_at_id",
            "next_follow_up_at",
            "id",
            postgresql_where=_HAS_FOLLOW_UP,
            sqlite_where=_HAS_FOLLOW_UP,
        ),
        # Tab counts under "Overdue follow-ups": each status's overdue leads as one range.
        Index(
            "ix_leads_status_next_follow_up_at_id",
            "status",
            "next_follow_up_at",
            "id",
            postgresql_where=_HAS_FOLLOW_UP,
            sqlite_where=_HAS_FOLLOW_UP,
        ),
        Index(
            "ix_leads_owner_id_next_follow_up_at_id",
            "owner_id",
            "next_follow_up_at",
            "id",
            postgresql_where=_HAS_FOLLOW_UP,
            sqlite_where=_HAS_FOLLOW_UP,
        ),
        Index(
            "ix_leads_program_id_next_follow_up_at_id",
            "program_id",
            "next_follow_up_at",
            "id",
            postgresql_where=_HAS_FOLLOW_UP,
            sqlite_where=_HAS_FOLLOW_UP,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The id callers of the JSON API see: random, so it reveals neither the database id
    #: nor how many leads there are. Set once, at insert.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    status: Mapped[str] = mapped_column(String(20), default="new")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    first_contacted_at: Mapped[dt.datetime | None]
    next_follow_up_at: Mapped[dt.datetime | None]
    last_submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: When the prospect was last sent a confirmation about this lead (at most one a day).
    last_confirmed_at: Mapped[dt.datetime | None]
    submission_count: Mapped[int] = mapped_column(Integer, default=0)
    # Attribution of the first submission, kept on the lead so the queue can filter on it.
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    prospect: Mapped[Prospect] = relationship(back_populates="leads")
    program: Mapped[Program] = relationship()
    owner: Mapped[StaffUser | None] = relationship()


@event.listens_for(Prospect.__table__, "before_create")
def _pg_trgm(_table: Any, connection: Any, **_kw: Any) -> None:
    """The trigram index below needs PostgreSQL's pg_trgm extension (the migration adds it too)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")


# Queue search matches a word start in the folded names (LIKE '% term%') and, on PostgreSQL,
# anywhere inside them: a trigram index serves both. On SQLite the index is a plain one that
# such a LIKE cannot use, so search reads every person there.
Index(
    "ix_prospects_search_name_trgm",
    Prospect.search_name,
    postgresql_using="gin",
    postgresql_ops={"search_name": "gin_trgm_ops"},
)
Index(
    "ix_prospects_email_normalized_pattern",
    Prospect.email_normalized,
    postgresql_ops={"email_normalized": "varchar_pattern_ops"},
)


class Submission(Base):
    """The immutable evidence of one accepted request, exactly as submitted."""

    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("spam_verdict", SPAM_VERDICTS), name="spam_verdict"),
        Index("ix_submissions_received_at", "received_at"),
        # The spam review page walks the quarantined ones, most recently received first
        # (its keyset cursor is (received_at, id)), and the staff header counts them.
        Index(
            "ix_submissions_quarantined_received_at_id",
            "received_at",
            "id",
            postgresql_where=text("spam_verdict = 'quarantined'"),
            sqlite_where=text("spam_verdict = 'quarantined'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    # A quarantined submission has no lead (and no prospect).
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"))
    program_slug: Mapped[str] = mapped_column(String(80), default="")

    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")  # as typed
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    start_term: Mapped[str] = mapped_column(String(40), default="")
    education_level: Mapped[str] = mapped_column(String(40), default="")
    military: Mapped[str] = mapped_column(String(40), default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    # The wording of the text-message opt-in the person ticked (NULL: not ticked, or stored
    # before the wording was kept).
    sms_opt_in_text: Mapped[str | None] = mapped_column(Text)
    sms_opt_in_sha256: Mapped[str | None] = mapped_column(String(64))

    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_texts.id"))
    consent_version: Mapped[int | None] = mapped_column(Integer)
    consent_sha256: Mapped[str | None] = mapped_column(String(64))

    channel: Mapped[str] = mapped_column(String(10), default="form")
    #: The API key a submission through the JSON API came with (its source).
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    page_url: Mapped[str] = mapped_column(String(2048), default="")
    referrer: Mapped[str] = mapped_column(String(2048), default="")
    utm_source: Mapped[str] = mapped_column(String(200), default="")
    utm_medium: Mapped[str] = mapped_column(String(200), default="")
    utm_campaign: Mapped[str] = mapped_column(String(200), default="")
    utm_term: Mapped[str] = mapped_column(String(200), default="")
    utm_content: Mapped[str] = mapped_column(String(200), default="")

    spam_verdict: Mapped[str] = mapped_column(String(12), default="ok")
    spam_reasons: Mapped[str] = mapped_column(String(200), default="")

    lead: Mapped[Lead | None] = relationship()
    program: Mapped[Program | None] = relationship()
    consent_text: Mapped[ConsentText | None] = relationship()
    api_key: Mapped[ApiKey | None] = relationship()


class RoutingMember(Base):
    """A member of a program's routing team: new leads go round the team by weight.

    current_weight is the smooth weighted round robin's running state (core/routing.py):
    rows are locked while a turn is taken, so concurrent submissions take turns in order.
    """

    __tablename__ = "routing_members"
    __table_args__ = (
        UniqueConstraint("program_id", "staff_user_id"),
        CheckConstraint("weight >= 1 AND weight <= 100", name="weight"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    current_weight: Mapped[int] = mapped_column(Integer, default=0)

    staff_user: Mapped[StaffUser] = relationship()
    program: Mapped[Program] = relationship()


class SpamReview(Base):
    """A manager's decision on a quarantined submission, which itself stays as it arrived.

    Released: the request was a person's after all, and a copy of it went through intake
    (released_submission_id). Dismissed: spam indeed. One decision per submission.
    """

    __tablename__ = "spam_reviews"
    __table_args__ = (CheckConstraint(_in("decision", SPAM_DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    decision: Mapped[str] = mapped_column(String(10))
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL")
    )

    reviewer: Mapped[StaffUser | None] = relationship()
    submission: Mapped[Submission] = relationship(foreign_keys=[submission_id])
    released_submission: Mapped[Submission | None] = relationship(
        foreign_keys=[released_submission_id]
    )


class Activity(Base):
    """One entry of a lead's timeline."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_lead_id_created_at", "lead_id", "created_at"),
        CheckConstraint(_in("kind", ACTIVITY_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    actor: Mapped[StaffUser | None] = relationship()


class AuditEvent(Base):
    """Who did what to which record, when and from where."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str] = mapped_column(String(30), default="")
    target_id: Mapped[str] = mapped_column(String(40), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """An event to deliver after commit (mail, webhook, CRM), written in the same transaction."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        # The delivery page's "needs attention" view, newest first: the few messages that
        # gave up, without walking every sent one since (they may be months old).
        Index(
            "ix_outbox_messages_attention_id",
            "id",
            postgresql_where=_NEEDS_ATTENTION,
            sqlite_where=_NEEDS_ATTENTION,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key for a landing-page source of the JSON API; only its hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiIdempotencyRecord(Base):
    """One Idempotency-Key a key's caller used: the request's fingerprint and the answer.

    Claimed (state "processing") in a transaction of its own before the work starts, so a
    retry that arrives meanwhile sees it in flight (409); the answer is stored with the
    work, so a replay gets it back. The unique (key, Idempotency-Key) pair is what makes
    two concurrent requests store one submission.
    """

    __tablename__ = "api_idempotency_records"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        CheckConstraint("state IN ('processing', 'done')", name="state"),
        Index("ix_api_idempotency_records_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the request body in canonical JSON form (sorted keys, no spaces).
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="processing")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EmbedOrigin(Base):
    """A site allowed to frame the embeddable form (`flask embed allow ORIGIN`)."""

    __tablename__ = "embed_origins"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: scheme://host[:port], lower case, no default port, no path.
    origin: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImmutableEvidenceError(RuntimeError):
    """Something tried to change a stored Submission."""


@event.listens_for(Submission, "before_update")
def _submissions_are_immutable(_mapper: Any, _connection: Any, target: Submission) -> None:
    """A submission is evidence of what was sent: staff edits go to the Prospect or Lead."""
    raise ImmutableEvidenceError(f"submission {target.id} is immutable evidence")
