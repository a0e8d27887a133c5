"""Who may open what under /staff: a route x role matrix generated from the app's URL map.

Every rule under /staff is covered, including routes added later: anonymous requests go to
the sign-in page, a role below the view's declared `required_role` gets 403 and an audit
event, a role at or above it gets through. A staff view that declares no role fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from leadform import create_app
from leadform.core.leads.permissions import ROLE_RANK
from leadform.db import Base
from leadform.models import AuditEvent
from leadform.web.staff.access import role_required

PROGRAM = "medical-billing-and-coding-certificate"
ROLES = ("counselor", "manager", "admin")
#: Views anyone may reach: signing in and out.
OPEN_ENDPOINTS = {"staff.login", "staff.logout"}
#: Plausible values for every form a staff POST might take, so a view that checks access
#: only after validating its input would still try to change something.
SAMPLE_FORM = {
    "status": "contacted",
    "owner_id": "",
    "owner": "",
    "note": "Called, will call back.",
    "body": "Called, will call back.",
    "channel": "call",
    "outcome": "reached",
    "follow_up": "2031-01-15T10:00",
    "next_follow_up_at": "2031-01-15T10:00",
    "when": "2031-01-15T10:00",
    "lead_ids": "",
    "lead_id": "",
    "action": "status",
}
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _collect_rules() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) for every staff URL, read from an app built for collection."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "collection-only-secret-key-0123456789abcdef",
            "DATABASE_URL": "sqlite://",
        }
    )
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff") or rule.endpoint.endswith("static"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, rule.rule, method))
    return sorted(found)


STAFF_RULES = _collect_rules()
GUARDED_RULES = [r for r in STAFF_RULES if r[0] not in OPEN_ENDPOINTS]
POST_RULES = [r for r in STAFF_RULES if r[2] == "POST"]
#: Everything done to one lead: /staff/leads/<id> and below.
LEAD_RULES = [
    r for r in GUARDED_RULES if re.match(r"/staff/leads/<int(\([^)]*\))?:\w+>(/|$)", r[1])
]


def _id(rule: tuple[str, str, str]) -> str:
    return f"{rule[2]} {rule[1]}"


def _url(rule: str, *, lead_id: int, user_id: int) -> str:
    """The rule with its parameters filled: leads with a real lead, people with a real user."""

    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "string", match.group(2)
        if "lead" in name:
            return str(lead_id)
        if "user" in name or "staff" in name or "owner" in name:
            return str(user_id)
        if "program" in name or "slug" in name:
            return PROGRAM
        return str(lead_id) if converter == "int" else "x"

    return _ARGUMENT.sub(fill, rule)


def _state(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log.

    Read with Core on the test's session, which the requests share: no identity-map
    staleness, and no second SQLite connection waiting for the first one's lock.
    """
    return {
        table.name: sorted(tuple(map(repr, row)) for row in db.execute(select(table)))
        for table in Base.metadata.sorted_tables
        if table.name != "audit_events"
    }


def _denials(db: Any, actor_id: int) -> list[dict[str, Any]]:
    stmt = select(AuditEvent.data).where(
        AuditEvent.action == "access.denied", AuditEvent.actor_id == actor_id
    )
    return list(db.execute(stmt).scalars())


def _request(client: Any, method: str, url: str) -> Any:
    response = client.open(url, method=method, data=SAMPLE_FORM if method == "POST" else None)
    response.get_data()  # run a streamed body to the end (exports)
    return response


def _goes_to_login(response: Any) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"].startswith(
        "/staff/login"
    )


def test_the_matrix_sees_the_workspace():
    endpoints = {endpoint for endpoint, _, _ in STAFF_RULES}
    assert {"staff.login", "staff.logout", "staff.queue"} <= endpoints


@pytest.mark.parametrize("rule", GUARDED_RULES, ids=_id)
def test_every_staff_view_declares_its_role(app, rule):
    endpoint = rule[0]
    required = getattr(app.view_functions[endpoint], "required_role", None)
    assert required in ROLE_RANK, (
        f"{endpoint} ({rule[1]}) must be wrapped in role_required(...) so its role is declared"
    )


@pytest.mark.parametrize("rule", GUARDED_RULES, ids=_id)
def test_anonymous_is_sent_to_sign_in_and_changes_nothing(
    app, db, client, make_staff, make_lead, rule
):
    _, path, method = rule
    bystander = make_staff("counselor")
    lead = make_lead(owner=bystander)
    url = _url(path, lead_id=lead.id, user_id=bystander.id)
    before = _state(db)
    response = _request(client, method, url)
    assert _goes_to_login(response), response.status_code
    if method == "GET":
        assert "next=" in response.headers["Location"]
    assert _state(db) == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("rule", GUARDED_RULES, ids=_id)
def test_role_matrix(app, db, client, make_staff, make_lead, login_as, rule, role):
    endpoint, path, method = rule
    required = getattr(app.view_functions[endpoint], "required_role", None)
    if required not in ROLE_RANK:
        pytest.fail(f"{endpoint} declares no required_role")
    user = make_staff(role)
    bystander = make_staff("counselor")
    # The actor's own lead, so object-level checks (tested below) do not get in the way.
    lead = make_lead(owner=user)
    login_as(user=user)
    url = _url(path, lead_id=lead.id, user_id=bystander.id)

    response = _request(client, method, url)

    if ROLE_RANK[role] < ROLE_RANK[required]:
        assert response.status_code == 403
        assert response.headers["Cache-Control"] == "no-store"
        denials = _denials(db, user.id)
        assert [(d["path"], d["method"]) for d in denials] == [(url.split("?")[0], method)]
    else:
        assert response.status_code != 403, f"{role} refused on {method} {url}"
        assert not _goes_to_login(response)
        assert not _denials(db, user.id)


def test_role_required_denies_below_the_role_and_audits(app, db, client, make_staff, login_as):
    """The decorator itself, on a route only this test has (the real routes may all allow
    counselors on a given branch, which would leave the 403 branch of the matrix empty)."""

    @role_required("admin")
    def admin_only() -> str:
        return "secret admin page"

    app.add_url_rule("/staff/_matrix_admin_only", "matrix_admin_only", admin_only)
    manager = login_as("manager")
    response = client.get("/staff/_matrix_admin_only?x=1")
    assert response.status_code == 403
    assert "secret admin page" not in response.get_data(as_text=True)
    assert "You don&#39;t have access to this page" in response.get_data(as_text=True)
    [denial] = _denials(db, manager.id)
    assert denial["path"] == "/staff/_matrix_admin_only"
    assert denial["method"] == "GET"
    client.post("/staff/logout")
    admin = login_as("admin")
    assert client.get("/staff/_matrix_admin_only").get_data(as_text=True) == "secret admin page"
    assert not _denials(db, admin.id)


# --- object level: leads that belong to someone else -----------------------------------------


def _lead_page(app: Any) -> str | None:
    for rule in app.url_map.iter_rules():
        if re.fullmatch(r"/staff/leads/<int(\([^)]*\))?:\w+>", rule.rule) and "GET" in (
            rule.methods or ()
        ):
            return rule.rule
    return None


def test_counselor_gets_403_on_a_lead_owned_by_someone_else(
    app, db, client, make_staff, make_lead, login_as
):
    page = _lead_page(app)
    if page is None:
        pytest.skip("the lead page /staff/leads/<id> is not on this branch yet")
    colleague = make_staff("counselor")
    theirs = make_lead(email="theirs@example.com", owner=colleague)
    me = login_as("counselor")
    mine = make_lead(email="mine@example.com", owner=me)
    unassigned = make_lead(email="nobody@example.com")

    url = _url(page, lead_id=theirs.id, user_id=me.id)
    response = client.get(url)
    assert response.status_code == 403
    assert "theirs@example.com" not in response.get_data(as_text=True)
    assert [d["path"] for d in _denials(db, me.id)] == [url]
    assert client.get(_url(page, lead_id=mine.id, user_id=me.id)).status_code == 200
    # Unassigned leads are open to every counselor, so they can be claimed.
    assert client.get(_url(page, lead_id=unassigned.id, user_id=me.id)).status_code == 200


@pytest.mark.parametrize("rule", LEAD_RULES, ids=_id)
def test_counselor_gets_403_on_every_action_on_someone_elses_lead(
    app, db, client, make_staff, make_lead, login_as, rule
):
    _, path, method = rule
    colleague = make_staff("counselor")
    theirs = make_lead(email="theirs@example.com", owner=colleague)
    me = login_as("counselor")
    url = _url(path, lead_id=theirs.id, user_id=me.id)
    before = _state(db)
    data = {**SAMPLE_FORM, "owner_id": str(me.id), "owner": str(me.id)}
    response = client.open(url, method=method, data=data if method == "POST" else None)
    assert response.status_code == 403
    assert "theirs@example.com" not in response.get_data(as_text=True)
    assert _state(db) == before
    assert len(_denials(db, me.id)) == 1


# --- CSRF on every state change ---------------------------------------------------------


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def csrf_on(app_config: dict[str, Any]) -> None:
    app_config["WTF_CSRF_ENABLED"] = True


@pytest.mark.usefixtures("csrf_on")
@pytest.mark.parametrize("rule", POST_RULES, ids=_id)
def test_every_staff_post_needs_a_csrf_token(app, db, client, make_staff, make_lead, rule):
    _, path, _ = rule
    admin = make_staff("admin", password="correct horse battery")
    token = _csrf_token(client.get("/staff/login").get_data(as_text=True))
    signed_in = client.post(
        "/staff/login",
        data={"email": admin.email, "password": "correct horse battery", "csrf_token": token},
    )
    assert signed_in.status_code == 303
    lead = make_lead(owner=admin)
    url = _url(path, lead_id=lead.id, user_id=admin.id)
    before = _state(db)

    data = {**SAMPLE_FORM, "email": admin.email, "password": "correct horse battery"}
    response = client.post(url, data=data)

    assert response.status_code == 400
    assert _state(db) == before
    assert client.get("/staff/").status_code == 200  # still signed in: logout did not happen
