"""The delivery page: what the outbox still has to send, and what gave up (managers)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...context import get_session
from ...core import audit, outbox
from ...core.errors import ActionError
from ...db import utcnow
from .access import actor, is_db_id, role_required
from .blueprint import bp

VIEW_LABELS = {
    "attention": "Needs attention",
    "pending": "Waiting to send",
    "sent": "Sent",
}


@bp.get("/delivery")
@role_required("manager")
def delivery() -> str:
    """Outbox messages by state: gave up or went nowhere, waiting (with errors), sent."""
    view = request.args.get("view", "attention")
    if view not in VIEW_LABELS:
        view = "attention"
    raw_after = request.args.get("after", "")
    after = int(raw_after) if is_db_id(raw_after) else None
    db = get_session()
    page = outbox.delivery_page(db, view, after=after)
    # Email recipients are personal data: every view of this page is on record.
    audit.record(db, "delivery.viewed", actor(), view=view, after=after)
    db.commit()
    return render_template(
        "staff/delivery.html",
        page=page,
        view=view,
        views=VIEW_LABELS,
        attention=outbox.dead_count(db),
        count_cap=outbox.DEAD_COUNT_CAP,
        summary=outbox.summary,
    )


@bp.post("/delivery/<int(max=2147483647):message_id>/retry")
@role_required("manager")
def delivery_retry(message_id: int) -> Response:
    """Send a message that gave up again, from now (after fixing what made it fail)."""
    db = get_session()
    try:
        outbox.retry(db, message_id, actor(), utcnow())
    except ActionError as exc:
        db.rollback()
        flash(str(exc), "warning")
        return redirect(url_for("staff.delivery"), code=303)
    db.commit()
    flash(f"Message #{message_id} will be sent again within a minute.", "success")
    return redirect(url_for("staff.delivery"), code=303)


def delivery_attention() -> str:
    """For the staff header: how many messages need a manager's attention ("" for none)."""
    count = outbox.dead_count(get_session())
    if not count:
        return ""
    return f"{outbox.DEAD_COUNT_CAP}+" if count > outbox.DEAD_COUNT_CAP else str(count)
