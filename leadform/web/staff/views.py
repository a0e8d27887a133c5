"""Staff workspace pages: the lead queue, bulk actions and the CSV export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateField, HiddenField, SearchField, SelectField, StringField
from wtforms.validators import Length, Optional

from ...context import get_session, settings
from ...core import audit
from ...core.accounts import users
from ...core.errors import ActionError
from ...core.intake.validation import bad_characters
from ...core.leads import actions, export, queue
from ...core.leads.queue import Directory
from ...db import utcnow
from ...models import Lead, StaffUser
from ...vocab import CLOSED_STATUSES, LEAD_STATUSES, STATUS_LABELS
from ..forms import BaseForm, plain_text, select_choices
from .access import actor, has_role, is_db_id, role_required, speed_to_lead_minutes, user
from .blueprint import bp
from .display import phone_display, staff_tz
from .forms import plausible_year

#: Query-string keys that keep the reader's place in the queue.
PAGE_ARGS: tuple[str, ...] = ("after", "before")
#: Where a counselor starts when the URL names no filter: their own leads, the closed ones
#: (vocab.CLOSED_STATUSES) left out. Managers start on every lead.
COUNSELOR_START: dict[str, str] = {"owner": "me", "status": queue.OPEN}
#: Every lead the viewer may see: an explicit owner, so a counselor's links keep this view
#: instead of falling back to COUNSELOR_START.
EVERY_LEAD: dict[str, str] = {"owner": "any"}
#: The longest query string a lead page carries back to its queue view (`?from=`), and the
#: longest value in it (a search, a cursor, a campaign name all fit).
MAX_FROM = 2000
MAX_ARG = 400


class QueueFilterForm(BaseForm):
    """The queue's filters, read from the query string so a view can be bookmarked."""

    class Meta:
        csrf = False

    q = SearchField("Search", validators=[Optional(), Length(max=100), plain_text])
    status = SelectField("Status", validators=[Optional()])
    owner = SelectField("Owner", validators=[Optional()])
    program = SelectField("Program", validators=[Optional()])
    received_from = DateField("Received from", validators=[Optional(), plausible_year])
    received_to = DateField("Received to", validators=[Optional(), plausible_year])
    source = StringField("Source", validators=[Optional(), Length(max=200), plain_text])
    medium = StringField("Medium", validators=[Optional(), Length(max=200), plain_text])
    campaign = StringField("Campaign", validators=[Optional(), Length(max=200), plain_text])
    overdue = BooleanField("Overdue follow-ups only")
    sort = SelectField("Sort", default="newest", validators=[Optional()])


class BulkForm(BaseForm):
    """Assign or change the status of the leads ticked in the queue."""

    action = SelectField("Action")
    owner = SelectField("Assign to", validators=[Optional()])
    status = SelectField("Status", validators=[Optional()])
    return_to = HiddenField()


@dataclass(frozen=True)
class QueueRow:
    """One lead as the queue shows it."""

    id: int
    name: str
    email: str
    phone: str
    program: str
    status: str
    owner: str
    received_at: dt.datetime
    age: str
    late: bool  # new and older than the speed-to-lead target
    follow_up_at: dt.datetime | None
    overdue: bool


def _filter_form(args: Mapping[str, str], directory: Directory) -> QueueFilterForm:
    form = QueueFilterForm(formdata=MultiDict(args))
    form.status.choices = select_choices(
        [(queue.OPEN, "Open (not closed)"), *((s, STATUS_LABELS[s]) for s in LEAD_STATUSES)],
        blank="Any status",
    )
    owners = [("any", "Anyone"), ("me", "Me"), ("none", "Unassigned")]
    if has_role(user(), "manager"):
        owners += [
            (str(u.id), u.name if u.active else f"{u.name} (inactive)") for u in directory.staff
        ]
    form.owner.choices = select_choices(owners)
    form.program.choices = select_choices(
        ((p.slug, p.name) for p in directory.programs), blank="All programs"
    )
    form.sort.choices = select_choices(queue.SORTS.items())
    form.validate()
    if not args.get("sort") and form.overdue.data:
        form.sort.data = "follow_up"  # overdue follow-ups: the most overdue first
    return form


def _filters_from(form: QueueFilterForm, directory: Directory) -> queue.QueueFilters:
    """The filters the form holds; a field with an error is shown with it and not applied."""

    def ok(name: str) -> Any:
        field = form[name]
        return None if field.errors or field.data in ("", None) else field.data

    owner = ok("owner")
    owner_id = None
    if owner == "me":
        owner_id = user().id
    elif owner not in (None, "none", "any"):
        owner_id = int(owner)
    program = ok("program")
    program_ids = {p.slug: p.id for p in directory.programs}
    return queue.QueueFilters(
        status=ok("status"),
        owner=owner_id,
        unassigned=owner == "none",
        program_id=program_ids.get(program) if program else None,
        received_from=ok("received_from"),
        received_to=ok("received_to"),
        tz=staff_tz(),
        utm_source=ok("source"),
        utm_medium=ok("medium"),
        utm_campaign=ok("campaign"),
        search=ok("q") or "",
        overdue=bool(form.overdue.data),
        sort=ok("sort") or "newest",
    )


def _filter_args(args: Mapping[str, str]) -> dict[str, str]:
    """The filter parameters present in a query string, for links, audit and the export."""
    return {key: args[key] for key in queue.FILTER_ARGS if args.get(key)}


@dataclass(frozen=True)
class QueueView:
    """A view of the queue as a query string selects it (the queue page, the export and
    a lead page opened from the queue read it the same way)."""

    form: QueueFilterForm
    filters: queue.QueueFilters
    #: The filter parameters in effect, for links (a value with an error included: shown).
    current: dict[str, str]
    #: A counselor's starting view (COUNSELOR_START), chosen because the URL named no filter.
    started: bool


def queue_view(args: Mapping[str, str], directory: Directory) -> QueueView:
    """The filters a query string selects, with a counselor's start view when it names none."""
    started = not has_role(user(), "manager") and not any(k in args for k in queue.FILTER_ARGS)
    if started:
        args = COUNSELOR_START
    form = _filter_form(args, directory)
    return QueueView(form, _filters_from(form, directory), _filter_args(args), started)


def queue_args(query: str | None) -> dict[str, str]:
    """The queue's own parameters (filters and page) in a query string a form or link
    carried back; anything else, any excess and any value with control characters (NUL
    among them, which PostgreSQL refuses outright) is dropped."""
    keep = set(queue.FILTER_ARGS) | set(PAGE_ARGS)
    pairs = parse_qsl((query or "")[:MAX_FROM])[:50]
    return {
        key: value
        for key, value in pairs
        if key in keep and value and len(value) <= MAX_ARG and not bad_characters(value)
    }


def from_value(args: Mapping[str, str]) -> str:
    """A queue view's parameters as one `from` value for the lead pages it links to."""
    return urlencode(args)


def _applied_args(current: dict[str, str], form: QueueFilterForm) -> dict[str, str]:
    """The filter parameters that were applied: a value with an error is shown, not used."""
    return {key: value for key, value in current.items() if not form[key].errors}


def _url_args(args: dict[str, str]) -> dict[str, Any]:
    """Query arguments for url_for, whose own `_external` keyword (a bool) none of them is."""
    return dict(args)


def _age(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    days = minutes // (24 * 60)
    return f"{days} d" if days < 60 else f"{days // 30} mo"


def _rows(page: queue.Page, directory: Directory, now: dt.datetime) -> list[QueueRow]:
    programs = directory.program_names()
    staff = directory.staff_names()
    target = dt.timedelta(minutes=speed_to_lead_minutes())
    return [
        QueueRow(
            id=r.id,
            name=f"{r.first_name} {r.last_name}".strip(),
            email=r.email,
            phone=phone_display(r.phone),
            program=programs.get(r.program_id, ""),
            status=r.status,
            owner=staff.get(r.owner_id, "") if r.owner_id else "",
            received_at=r.last_submitted_at,
            age=_age(now - r.last_submitted_at),
            late=r.status == "new"
            and r.first_contacted_at is None
            and now - r.last_submitted_at > target,
            follow_up_at=r.next_follow_up_at,
            overdue=r.next_follow_up_at is not None and r.next_follow_up_at < now,
        )
        for r in page.rows
    ]


def lead_url(lead_id: int, origin: str | None = None) -> str:
    """The lead page's URL; `origin`: the queue view it was opened from (see from_value)."""
    if origin is None:
        return url_for("staff.lead_detail", lead_id=lead_id)
    return url_for("staff.lead_detail", lead_id=lead_id, **_url_args({"from": origin}))


@dataclass(frozen=True)
class LeadNav:
    """A lead page opened from a queue view: the way back to it and the leads around it."""

    #: The view's parameters as the `from` value this lead page's links and forms carry on.
    origin: str
    queue_url: str
    previous_url: str | None
    next_url: str | None


def lead_nav(lead: Lead, raw_from: str | None) -> LeadNav | None:
    """The queue view a lead page was opened from (`?from=`, only the queue's own
    parameters kept), or None when it was opened some other way."""
    if raw_from is None:
        return None
    args = queue_args(raw_from)
    origin = from_value(args)
    db = get_session()
    view = queue_view(args, Directory.load(db))
    before, after = queue.neighbours(
        db,
        view.filters,
        queue.viewer_of(actor()),
        lead,
        now=utcnow(),
        default_country=settings().default_country,
    )
    return LeadNav(
        origin=origin,
        queue_url=url_for("staff.queue", **_url_args(args)),
        previous_url=lead_url(before, origin) if before is not None else None,
        next_url=lead_url(after, origin) if after is not None else None,
    )


def _url_maker(current: dict[str, str], *, manager: bool) -> Callable[..., str]:
    def queue_url(**changes: Any) -> str:
        args = {k: v for k, v in {**current, **changes}.items() if v not in (None, "")}
        if not manager and not any(k in args for k in queue.FILTER_ARGS):
            args.update(EVERY_LEAD)  # no filter left: every lead, not the start view again
        return url_for("staff.queue", **args)

    return queue_url


@bp.get("/", endpoint="queue")
@role_required("counselor")
def queue_page() -> str:
    """The lead queue: tabs with counts, filters, search, keyset pages."""
    db = get_session()
    now = utcnow()
    config = settings()
    directory = Directory.load(db)
    view = queue_view(request.args, directory)
    form, filters, current = view.form, view.filters, view.current
    page, counts = queue.view_queue(
        db,
        filters,
        actor(),
        now=now,
        size=config.queue_page_size,
        cap=config.queue_count_cap,
        after=request.args.get("after"),
        before=request.args.get("before"),
        default_country=config.default_country,
        shown_filters=_applied_args(current, form),
    )
    db.commit()
    bulk = None
    manager = has_role(user(), "manager")
    here = {**current, **{k: request.args[k] for k in PAGE_ARGS if request.args.get(k)}}
    if manager:
        bulk = BulkForm(formdata=None, return_to=urlencode(here))
        _bulk_choices(bulk, directory)
    origin = from_value(here)
    queue_url = _url_maker(current, manager=manager)
    return render_template(
        "staff/queue.html",
        form=form,
        filters=filters,
        rows=_rows(page, directory, now),
        page=page,
        counts=counts,
        statuses=LEAD_STATUSES,
        status_labels=STATUS_LABELS,
        queue_url=queue_url,
        export_url=url_for("staff.export_csv", **_url_args(_applied_args(current, form))),
        lead_url=lambda lead_id: lead_url(lead_id, origin),
        bulk=bulk,
        current=current,
        started=view.started,
        # "Clear all": a counselor's everything is explicit, else it would be the start view.
        clear_url=queue_url(**dict.fromkeys(current)),
        show_clear=bool(current) and (manager or current != EVERY_LEAD),
        open_only=filters.status == queue.OPEN,
        closed_labels=[STATUS_LABELS[s] for s in LEAD_STATUSES if s in CLOSED_STATUSES],
        speed_to_lead=speed_to_lead_minutes(),
        sort_label=queue.SORTS.get(filters.sort, queue.SORTS["newest"]),
        advanced_open=any(
            current.get(k)
            for k in ("program", "received_from", "received_to", "source", "medium", "campaign")
        )
        or any(f.errors for f in form),
    )


def _bulk_choices(form: BulkForm, directory: Directory) -> None:
    form.action.choices = select_choices((("assign", "Assign"), ("status", "Change status")))
    form.owner.choices = select_choices(
        [("none", "Nobody (unassign)")]
        + [(str(u.id), u.name) for u in directory.staff if u.active],
        blank="Choose a person",
    )
    form.status.choices = select_choices(
        ((s, STATUS_LABELS[s]) for s in LEAD_STATUSES), blank="Choose a status"
    )


def _back_to_queue(return_to: str | None) -> Response:
    """Redirect to the queue with the filters (and page) the bulk form was sent from."""
    return redirect(url_for("staff.queue", **_url_args(queue_args(return_to))), code=303)


@bp.post("/leads/bulk")
@role_required("manager")
def bulk_action() -> Response:
    """Assign or change the status of the ticked leads: locked and checked as single actions."""
    db = get_session()
    directory = Directory.load(db)
    form = BulkForm()
    _bulk_choices(form, directory)
    back = _back_to_queue(form.return_to.data)
    max_bulk = actions.MAX_BULK
    ids = [int(raw) for raw in request.form.getlist("lead_ids")[: max_bulk + 1] if is_db_id(raw)]
    if not ids:
        flash("Tick at least one lead first.", "warning")
        return back
    if len(ids) > max_bulk:
        flash(f"Choose at most {max_bulk} leads at a time.", "warning")
        return back
    if not form.validate():
        flash("Choose an action for the selected leads.", "warning")
        return back
    try:
        if form.action.data == "assign":
            message = _bulk_assign(form, ids)
        else:
            message = _bulk_status(form, ids)
    except ActionError as exc:
        db.rollback()
        flash(str(exc), "warning")
        return back
    if message is None:
        return back
    db.commit()
    flash(message, "success")
    return back


def _bulk_assign(form: BulkForm, ids: list[int]) -> str | None:
    choice = form.owner.data
    if not choice:
        flash("Choose who gets the selected leads.", "warning")
        return None
    db = get_session()
    owner = None if choice == "none" else db.get(StaffUser, int(choice))
    if choice != "none" and owner is None:
        flash("That staff member no longer exists.", "warning")
        return None
    return actions.bulk_assign(db, ids, owner, actor(), utcnow())


def _bulk_status(form: BulkForm, ids: list[int]) -> str | None:
    status = form.status.data
    if not status:
        flash("Choose the new status for the selected leads.", "warning")
        return None
    return actions.bulk_status(get_session(), ids, status, actor(), utcnow())


@bp.get("/leads/export.csv")
@role_required("manager")
def export_csv() -> Response:
    """The leads the current filters select, as a streamed CSV download."""
    db = get_session()
    now = utcnow()
    directory = Directory.load(db)
    view = queue_view(request.args, directory)
    form = view.form
    errors = [f"{field.label.text}: {field.errors[0]}" for field in form if field.errors]
    if errors:
        # The queue shows a bad filter and ignores it; a download can't show anything, and
        # ignoring the filter would export far more people than the manager asked for.
        db.rollback()
        message = "Nothing was exported: fix these filters first.\n" + "\n".join(errors)
        return Response(message + "\n", status=422, mimetype="text/plain")
    filters = view.filters
    who = actor()
    viewer = queue.viewer_of(who)
    country = settings().default_country
    current = _applied_args(view.current, form)
    expected = queue.count(db, filters, viewer, now=now, default_country=country)
    # Audited and committed before the first byte leaves: an export cut short (or a client
    # that disconnects) is still on record, with the filters and how many rows it selected.
    audit.record(db, "leads.exported", who, filters=current, row_count=expected)
    db.commit()
    labels = export.Labels.load(
        db, directory.program_names(), directory.staff_names(), settings().staff_tz
    )

    def stream() -> Iterator[str]:
        yield export.header()
        sent = 0
        for rows in export.batches(db, filters, viewer, now=now, default_country=country):
            # The export's documented exception to one commit per request: each batch ends
            # its read transaction, so a long download holds no snapshot and no lock.
            db.commit()
            if rows:
                sent += len(rows)
                yield export.rows_csv(rows, labels)
        audit.record(db, "leads.export_completed", who, row_count=sent)
        db.commit()

    # UTF-8 (with the BOM header() starts with): Excel then reads accents right.
    response = Response(stream_with_context(stream()), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="leads-{now:%Y-%m-%d}.csv"'
    return response


@bp.post("/away")
@role_required("counselor")
def away() -> Response:
    """Mark oneself away (new leads go to teammates) or back, then return to the page."""
    db = get_session()
    me = user()
    going = request.form.get("away") == "on"
    users.set_away(db, me, going, actor())
    db.commit()
    if going:
        flash("You're marked away: new leads go to your teammates until you're back.", "info")
    else:
        flash("Welcome back: new leads come to you again.", "success")
    return redirect(_same_site_back(request.referrer), code=303)


def _same_site_back(referrer: str | None) -> str:
    """Back to the staff page the button was on (a local /staff path only), else the queue."""
    parts = urlsplit(referrer or "")
    if parts.netloc == request.host and parts.path.startswith("/staff/"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for("staff.queue")
