"""routing teams: weighted round robin per program, and a team address

Revision ID: 7c1d2e3f4a50
Revises: 5b2e7d1c9a40
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1d2e3f4a50"
down_revision: str | None = "5b2e7d1c9a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("current_weight", sa.Integer(), nullable=False),
        sa.CheckConstraint("weight >= 1 AND weight <= 100", name=op.f("ck_routing_members_weight")),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_routing_members_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_routing_members_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_members")),
        sa.UniqueConstraint(
            "program_id", "staff_user_id", name=op.f("uq_routing_members_program_id_staff_user_id")
        ),
    )
    with op.batch_alter_table("programs") as batch:
        batch.add_column(sa.Column("team_email", sa.String(length=254), nullable=True))
    # A program's old default owner becomes a team of one, so routing carries on as before.
    op.execute(
        "INSERT INTO routing_members (program_id, staff_user_id, weight, current_weight) "
        "SELECT id, default_owner_id, 1, 0 FROM programs WHERE default_owner_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("team_email")
    op.drop_table("routing_members")
