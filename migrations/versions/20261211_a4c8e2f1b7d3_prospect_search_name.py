"""prospects: the names folded for search (accents, case, punctuation), trigram-indexed

Revision ID: a4c8e2f1b7d3
Revises: e7b3c1d2a4f6
Create Date: 2026-12-11 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadform.core.leads.search import search_name

revision: str = "a4c8e2f1b7d3"
down_revision: str | None = "e7b3c1d2a4f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def _backfill() -> None:
    """Fold every existing person's names, a batch of rows at a time, in id order."""
    conn = op.get_bind()
    prospects = sa.table(
        "prospects",
        sa.column("id", sa.Integer()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("search_name", sa.String()),
    )
    update = (
        prospects.update()
        .where(prospects.c.id == sa.bindparam("pid"))
        .values(search_name=sa.bindparam("folded"))
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(prospects.c.id, prospects.c.first_name, prospects.c.last_name)
            .where(prospects.c.id > last)
            .order_by(prospects.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            update,
            [{"pid": row.id, "folded": search_name(row.first_name, row.last_name)} for row in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # The name prefix indexes served the search this column now answers. Dropped first:
    # SQLite's batch mode rebuilds the table and cannot carry expression indexes over.
    op.drop_index("ix_prospects_first_name_lower", table_name="prospects")
    op.drop_index("ix_prospects_last_name_lower", table_name="prospects")
    with op.batch_alter_table("prospects") as batch:
        batch.add_column(
            sa.Column("search_name", sa.String(length=210), server_default="", nullable=False)
        )
    _backfill()
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_prospects_search_name_trgm",
        "prospects",
        ["search_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_prospects_search_name_trgm", table_name="prospects")
    with op.batch_alter_table("prospects") as batch:
        batch.drop_column("search_name")
    pattern_ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    for column in ("first_name", "last_name"):
        op.execute(
            f"CREATE INDEX ix_prospects_{column}_lower ON prospects (lower({column}){pattern_ops})"
        )
    # pg_trgm stays: other objects may use it, and it costs nothing unused.
