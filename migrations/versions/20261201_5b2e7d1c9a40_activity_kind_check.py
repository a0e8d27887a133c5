"""activity kinds: a CHECK constraint from the vocabulary module

Revision ID: 5b2e7d1c9a40
Revises: 948fc60ef5f4
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5b2e7d1c9a40"
down_revision: str | None = "948fc60ef5f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The kinds as of this revision, spelled out: a migration must not change when the
# vocabulary module grows later (a new kind gets a revision of its own).
KINDS = (
    "submitted",
    "resubmitted",
    "status_changed",
    "assigned",
    "note",
    "contact_attempt",
    "follow_up",
    "released",
)


def upgrade() -> None:
    quoted = ", ".join(f"'{kind}'" for kind in KINDS)
    with op.batch_alter_table("activities") as batch:
        batch.create_check_constraint(op.f("ck_activities_kind"), f"kind IN ({quoted})")


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.drop_constraint(op.f("ck_activities_kind"), type_="check")
