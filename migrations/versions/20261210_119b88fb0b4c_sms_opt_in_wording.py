"""submissions: the wording of the text-message opt-in that was ticked

Revision ID: 119b88fb0b4c
Revises: 8d2e3f4a5b61
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "119b88fb0b4c"
down_revision: str | None = "8d2e3f4a5b61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Two nullable columns: rows stored before keep NULL (their wording was not kept)."""
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("sms_opt_in_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("sms_opt_in_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("sms_opt_in_sha256")
        batch.drop_column("sms_opt_in_text")
