"""embed origins: the sites allowed to frame the embeddable form

Revision ID: e7b3c1d2a4f6
Revises: f2afb5d44c22
Create Date: 2026-12-01 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadform.db

revision: str = "e7b3c1d2a4f6"
down_revision: str | None = "f2afb5d44c22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "embed_origins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("created_at", leadform.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_embed_origins")),
        sa.UniqueConstraint("origin", name=op.f("uq_embed_origins_origin")),
    )


def downgrade() -> None:
    op.drop_table("embed_origins")
