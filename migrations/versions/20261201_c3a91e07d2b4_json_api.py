"""the JSON API: leads' public ids, the API key on submissions, idempotency records

Revision ID: c3a91e07d2b4
Revises: 119b88fb0b4c
Create Date: 2026-12-01 15:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadform.db

revision: str = "c3a91e07d2b4"
down_revision: str | None = "119b88fb0b4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing leads get a random public id (32 hex characters) before the column is
    # required: new ones get theirs from the application at insert.
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE leads SET public_id = md5(random()::text || id::text)")
    else:
        op.execute("UPDATE leads SET public_id = lower(hex(randomblob(16)))")
    with op.batch_alter_table("leads") as batch:
        batch.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(batch.f("uq_leads_public_id"), ["public_id"])

    with op.batch_alter_table("api_keys") as batch:
        batch.create_unique_constraint(batch.f("uq_api_keys_name"), ["name"])

    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_submissions_api_key_id_api_keys"),
            "api_keys",
            ["api_key_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "api_idempotency_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", leadform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", leadform.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('processing', 'done')", name=op.f("ck_api_idempotency_records_state")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_idempotency_records_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_records")),
        sa.UniqueConstraint(
            "api_key_id",
            "idempotency_key",
            name=op.f("uq_api_idempotency_records_api_key_id_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_api_idempotency_records_created_at", "api_idempotency_records", ["created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_api_idempotency_records_created_at", table_name="api_idempotency_records")
    op.drop_table("api_idempotency_records")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_constraint(batch.f("fk_submissions_api_key_id_api_keys"), type_="foreignkey")
        batch.drop_column("api_key_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(batch.f("uq_api_keys_name"), type_="unique")
    with op.batch_alter_table("leads") as batch:
        batch.drop_constraint(batch.f("uq_leads_public_id"), type_="unique")
        batch.drop_column("public_id")
