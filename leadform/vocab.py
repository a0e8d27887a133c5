"""The words LeadForm's data is written in: statuses, activity kinds, channels, outcomes.

One module, so the database's CHECK constraints, the core's rules, the staff pages' labels
and the demo data all say the same thing. Values are stored; labels are shown.
"""

from __future__ import annotations

from typing import Final

#: Lead statuses and their labels, in the order staff work through them.
STATUS_LABELS: Final[dict[str, str]] = {
    "new": "New",
    "attempted": "Attempted",
    "contacted": "Contacted",
    "qualified": "Qualified",
    "applied": "Applied",
    "enrolled": "Enrolled",
    "not_interested": "Not interested",
    "unreachable": "Unreachable",
    "invalid": "Invalid",
}
LEAD_STATUSES: Final[tuple[str, ...]] = tuple(STATUS_LABELS)
#: Statuses a re-submission reopens to "new": the person asked again, so work resumes.
#: "enrolled" and "applied" are kept: a student asking again is not a new lead.
CLOSED_STATUSES: Final[frozenset[str]] = frozenset({"not_interested", "unreachable", "invalid"})

STAFF_ROLES: Final[tuple[str, ...]] = ("counselor", "manager", "admin")

#: How a submission arrived.
CHANNELS: Final[tuple[str, ...]] = ("form", "embed", "api")
SPAM_VERDICTS: Final[tuple[str, ...]] = ("ok", "quarantined")
#: What a manager decided about a quarantined submission.
SPAM_DECISIONS: Final[tuple[str, ...]] = ("released", "dismissed")

# Activity kinds: one entry of a lead's timeline. The reopen rule looks for STATUS_CHANGED.
SUBMITTED: Final = "submitted"
RESUBMITTED: Final = "resubmitted"
STATUS_CHANGED: Final = "status_changed"
ASSIGNED: Final = "assigned"
NOTE: Final = "note"
CONTACT_ATTEMPT: Final = "contact_attempt"
FOLLOW_UP: Final = "follow_up"
RELEASED: Final = "released"
#: The worker delivered an email about the lead (an alert to staff, the prospect's confirmation).
EMAIL_SENT: Final = "email_sent"
ACTIVITY_KINDS: Final[tuple[str, ...]] = (
    SUBMITTED,
    RESUBMITTED,
    STATUS_CHANGED,
    ASSIGNED,
    NOTE,
    CONTACT_ATTEMPT,
    FOLLOW_UP,
    RELEASED,
    EMAIL_SENT,
)

#: How staff reached out to a prospect, and what came of it.
CONTACT_CHANNELS: Final[tuple[tuple[str, str], ...]] = (
    ("call", "Call"),
    ("email", "Email"),
    ("sms", "Text message"),
)
CONTACT_OUTCOMES: Final[tuple[tuple[str, str], ...]] = (
    ("reached", "Reached them"),
    ("left_message", "Left a message"),
    ("no_answer", "No answer"),
    ("sent", "Sent (email or text)"),
    ("wrong_number", "Wrong number or bounced"),
)
#: Outcomes that only make sense for a message, not for a phone call.
MESSAGE_ONLY_OUTCOMES: Final[frozenset[str]] = frozenset({"sent"})

#: Outbox event kinds and the deliveries they expand into.
LEAD_CREATED: Final = "lead.created"
LEAD_RESUBMITTED: Final = "lead.resubmitted"
LEAD_ASSIGNED: Final = "lead.assigned"
PROSPECT_CONFIRMATION: Final = "prospect.confirmation"
EVENT_KINDS: Final[tuple[str, ...]] = (
    LEAD_CREATED,
    LEAD_RESUBMITTED,
    LEAD_ASSIGNED,
    PROSPECT_CONFIRMATION,
)
OUTBOX_STATUSES: Final[tuple[str, ...]] = ("pending", "sending", "sent", "dead", "no_recipient")


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that a column holds one of a fixed set of strings."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
