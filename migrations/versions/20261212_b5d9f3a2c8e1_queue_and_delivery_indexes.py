"""indexes for the staff pages at a million leads: owner + program, overdue by status,
messages that need attention

Revision ID: b5d9f3a2c8e1
Revises: a4c8e2f1b7d3
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5d9f3a2c8e1"
down_revision: str | None = "a4c8e2f1b7d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns, partial-index condition), each measured on bench/dashboard.py's
# million-lead database (docs/benchmarks.md):
_INDEXES: list[tuple[str, str, list[str], str | None]] = [
    # The queue by owner and program (with or without a status) and its tab counts: one
    # range instead of ANDing the owner's and the program's in full (58 ms of counts).
    (
        "ix_leads_owner_id_program_id_status_last_submitted_at_id",
        "leads",
        ["owner_id", "program_id", "status", "last_submitted_at", "id"],
        None,
    ),
    # The tab counts under "Overdue follow-ups": 130 ms of counts to 2 ms.
    (
        "ix_leads_status_next_follow_up_at_id",
        "leads",
        ["status", "next_follow_up_at", "id"],
        "next_follow_up_at IS NOT NULL",
    ),
    # The delivery page's messages that gave up, newest first, when they are weeks old.
    (
        "ix_outbox_messages_attention_id",
        "outbox_messages",
        ["id"],
        "status IN ('dead', 'no_recipient')",
    ),
]


def upgrade() -> None:
    """Build each index; CONCURRENTLY on PostgreSQL, outside a transaction, so the tables
    keep taking submissions while they build. A failed build leaves an INVALID index,
    which running the upgrade again drops and builds anew."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, columns, where in _INDEXES:
        condition = sa.text(where) if where else None
        if postgresql:
            with op.get_context().autocommit_block():
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                op.create_index(
                    name,
                    table,
                    columns,
                    postgresql_where=condition,
                    postgresql_concurrently=True,
                )
        else:
            op.create_index(name, table, columns, sqlite_where=condition)


def downgrade() -> None:
    """Drop them."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, _columns, _where in reversed(_INDEXES):
        if postgresql:
            with op.get_context().autocommit_block():
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        else:
            op.drop_index(name, table_name=table)
