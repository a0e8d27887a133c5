"""prospect confirmations: when each lead was last confirmed, and email withdrawals

Revision ID: 8d2e3f4a5b61
Revises: 7c1d2e3f4a50
Create Date: 2026-12-01 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadform.db

revision: str = "8d2e3f4a5b61"
down_revision: str | None = "7c1d2e3f4a50"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not batch mode: SQLite (3.35+) adds and drops a column in place, and
# batch mode's table copy would lose the expression indexes on prospects' names.


def upgrade() -> None:
    op.add_column("leads", sa.Column("last_confirmed_at", leadform.db.UTCDateTime(timezone=True)))
    op.add_column(
        "prospects", sa.Column("email_opt_out_at", leadform.db.UTCDateTime(timezone=True))
    )


def downgrade() -> None:
    op.drop_column("prospects", "email_opt_out_at")
    op.drop_column("leads", "last_confirmed_at")
