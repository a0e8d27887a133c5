"""quarantined submissions indexed by received time

Revision ID: f2afb5d44c22
Revises: 9e3f4a5b6c72
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2afb5d44c22"
down_revision: str | None = "9e3f4a5b6c72"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = "ix_submissions_quarantined_received_at_id"
_OLD = "ix_submissions_quarantined_id"
_WHERE = "spam_verdict = 'quarantined'"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _replace(create: str, columns: list[str], drop: str) -> None:
    """Build one partial index, then drop the other (CONCURRENTLY on PostgreSQL).

    Outside a transaction on PostgreSQL, so a large submissions table keeps taking requests
    meanwhile. A build that fails leaves an INVALID index and this revision not applied:
    running the upgrade again drops the leftover and builds it anew.
    """
    where = sa.text(_WHERE)
    if _postgresql():
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {create}")
            op.create_index(
                create, "submissions", columns, postgresql_where=where, postgresql_concurrently=True
            )
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {drop}")
    else:
        op.create_index(create, "submissions", columns, sqlite_where=where)
        op.drop_index(drop, table_name="submissions")


def upgrade() -> None:
    """The spam review lists what is to review by received time (received_at, id), newest
    first, with a keyset cursor on the same pair; the index on id alone no longer serves it."""
    _replace(_NEW, ["received_at", "id"], _OLD)


def downgrade() -> None:
    """Back to the index on id."""
    _replace(_OLD, ["id"], _NEW)
