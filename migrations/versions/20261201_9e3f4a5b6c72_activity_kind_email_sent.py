"""activity kinds: email_sent (an email about the lead went out)

Revision ID: 9e3f4a5b6c72
Revises: c3a91e07d2b4
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "9e3f4a5b6c72"
down_revision: str | None = "c3a91e07d2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The kinds as of this revision, spelled out (see 5b2e7d1c9a40): the previous list plus
# email_sent, which the outbox worker writes when it delivered an email about a lead.
OLD_KINDS = (
    "submitted",
    "resubmitted",
    "status_changed",
    "assigned",
    "note",
    "contact_attempt",
    "follow_up",
    "released",
)
KINDS = (*OLD_KINDS, "email_sent")


def _replace(kinds: Sequence[str]) -> None:
    quoted = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("activities") as batch:
        batch.drop_constraint(op.f("ck_activities_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_activities_kind"), f"kind IN ({quoted})")


def upgrade() -> None:
    _replace(KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM activities WHERE kind = 'email_sent'")
    _replace(OLD_KINDS)
