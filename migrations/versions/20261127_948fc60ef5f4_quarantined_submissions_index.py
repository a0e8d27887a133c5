"""quarantined submissions index

Revision ID: 948fc60ef5f4
Revises: 95cfc521d70f
Create Date: 2026-11-27 12:48:43.188929
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "948fc60ef5f4"
down_revision: str | None = "95cfc521d70f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_NAME = "ix_submissions_quarantined_id"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """A partial index of the quarantined submissions, which the spam review page walks.

    Its own revision, built CONCURRENTLY on PostgreSQL (outside a transaction, so a large
    submissions table keeps taking requests meanwhile). A build that fails (a lock timeout)
    leaves an INVALID index and this revision not applied: running the upgrade again drops
    the leftover and builds it anew.
    """
    where = sa.text("spam_verdict = 'quarantined'")
    if _postgresql():
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_NAME}")
            op.create_index(
                _NAME,
                "submissions",
                ["id"],
                postgresql_where=where,
                postgresql_concurrently=True,
            )
    else:
        op.create_index(_NAME, "submissions", ["id"], sqlite_where=where)


def downgrade() -> None:
    """Drop the index (CONCURRENTLY on PostgreSQL)."""
    if _postgresql():
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_NAME}")
    else:
        op.drop_index(_NAME, table_name="submissions")
