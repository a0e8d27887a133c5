"""Staff sign-in basics (the full matrix lives with the staff workspace tests)."""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select

from leadform.context import get_engine
from leadform.models import AuditEvent
from leadform.web.staff import auth


def test_anonymous_is_sent_to_login(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_login_logout_and_copied_cookie_stops_working(client, app, login_as, db):
    login_as("counselor")
    assert client.get("/staff/").status_code == 200
    copied = client.get_cookie("leadform_session").value
    client.post("/staff/logout")
    assert client.get("/staff/").status_code == 302
    other = app.test_client()
    other.set_cookie("leadform_session", copied)
    assert other.get("/staff/").status_code == 302
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert [a for a in actions if a in ("login", "logout")] == ["login", "logout"]


def test_wrong_password_is_generic_and_audited(client, make_staff, db):
    user = make_staff("manager")
    bad = client.post("/staff/login", data={"email": user.email, "password": "nope"})
    unknown = client.post("/staff/login", data={"email": "x@example.com", "password": "nope"})
    assert bad.status_code == unknown.status_code == 401
    assert "don&#39;t match an active account" in bad.get_data(as_text=True)
    assert bad.get_data(as_text=True).count("match") == unknown.get_data(as_text=True).count(
        "match"
    )
    assert [e.action for e in db.scalars(select(AuditEvent))].count("login.failed") == 2


def test_staff_responses_are_not_cached(client, login_as):
    login_as()
    assert client.get("/staff/").headers["Cache-Control"] == "no-store"
    assert client.get("/staff/login").headers["Cache-Control"] == "no-store"


# --- helpers ---------------------------------------------------------------------------

PASSWORD = "correct horse battery"


def _audit_actions(db, action):
    """Audit events of one kind, read with Core on the session the requests share."""
    stmt = select(AuditEvent.actor_id, AuditEvent.data).where(AuditEvent.action == action)
    return [tuple(row) for row in db.execute(stmt)]


def _sign_in(client, email, password=PASSWORD, **kw):
    return client.post("/staff/login", data={"email": email, "password": password}, **kw)


def _csrf_token(html):
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


# --- where sign-in leads --------------------------------------------------------------


def test_sign_in_returns_to_the_page_asked_for(client, make_staff):
    user = make_staff()
    first = client.get("/staff/?status=new")
    assert first.status_code == 302
    login_url = first.headers["Location"]
    assert "next=" in login_url
    response = client.post(login_url, data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/?status=new"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/staff/",
        "//evil.example/staff/",
        "/\\evil.example/staff/",
        "/staff/\\..\\evil",
        "/\t/evil.example",
        "/staff/\n/evil",
        "javascript:alert(1)",
        "/request-info",
        "/staffing",
    ],
)
def test_sign_in_never_follows_next_off_the_workspace(client, make_staff, target):
    user = make_staff()
    response = client.post(
        "/staff/login",
        query_string={"next": target},
        data={"email": user.email, "password": PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/"


# --- throttling -----------------------------------------------------------------------


@pytest.fixture
def throttled(app_config):
    """Rate limits on, small, in memory, with a prefix no other test shares."""
    app_config.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
        LOGIN_RATE_LIMIT_ACCOUNT="3 per 15 minutes",
        LOGIN_RATE_LIMIT_ACCOUNT_CEILING="6 per hour",
        LOGIN_RATE_LIMIT_IP="5 per 15 minutes",
    )


def _from(ip):
    return {"environ_base": {"REMOTE_ADDR": ip}}


@pytest.mark.usefixtures("throttled")
def test_guessing_from_one_address_is_stopped_and_the_owner_still_signs_in(
    app, db, client, make_staff
):
    user = make_staff("manager")
    bystander = make_staff("counselor")
    attacker = app.test_client()
    for _ in range(3):
        assert _sign_in(attacker, user.email, "wrong", **_from("198.51.100.7")).status_code == 401
    # Even the right password from there waits now (any case of the address counts the same).
    blocked = _sign_in(attacker, user.email.upper(), **_from("198.51.100.7"))
    assert blocked.status_code == 429
    page = blocked.get_data(as_text=True)
    assert "Too many sign-in attempts. Please wait 15 minutes and try again." in page
    assert 'name="password"' in page  # the sign-in page, not a dead end
    assert blocked.headers["Cache-Control"] == "no-store"
    assert int(blocked.headers["Retry-After"]) == 15 * 60
    assert not _audit_actions(db, "login")
    # The owner, at their own desk, is not locked out by someone else's guessing.
    assert _sign_in(client, user.email, **_from("192.0.2.10")).status_code == 303
    # Nor is anyone else from the attacker's address (the per-address limit is not reached).
    assert _sign_in(app.test_client(), bystander.email, **_from("198.51.100.7")).status_code == 303


@pytest.mark.usefixtures("throttled")
def test_guessing_spread_over_many_addresses_meets_the_account_ceiling(app, make_staff):
    user = make_staff("manager")
    bystander = make_staff("counselor")
    for n in range(6):  # two guesses from each of three addresses: no address is stopped
        response = _sign_in(app.test_client(), user.email, "wrong", **_from(f"203.0.113.{n // 2}"))
        assert response.status_code == 401
    blocked = _sign_in(app.test_client(), user.email, **_from("192.0.2.10"))
    assert blocked.status_code == 429
    assert "Please wait 60 minutes and try again." in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) == 3600
    assert _sign_in(app.test_client(), bystander.email, **_from("192.0.2.10")).status_code == 303


@pytest.mark.usefixtures("throttled")
def test_an_operator_unlocks_an_account_from_every_address(app, db, make_staff):
    user = make_staff("manager")
    for n in range(6):
        _sign_in(app.test_client(), user.email, "wrong", **_from(f"203.0.113.{n // 3}"))
    assert _sign_in(app.test_client(), user.email, **_from("192.0.2.10")).status_code == 429
    assert _sign_in(app.test_client(), user.email, **_from("203.0.113.0")).status_code == 429

    result = app.test_cli_runner().invoke(args=["users", "unlock", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert f"sign-in throttle cleared for {user.email}" in result.output
    assert [actor for actor, _ in _audit_actions(db, "user.unlocked")] == [None]

    # The owner signs in again, even from an address that had used up its own count.
    assert _sign_in(app.test_client(), user.email, **_from("203.0.113.0")).status_code == 303
    assert _sign_in(app.test_client(), user.email, **_from("192.0.2.10")).status_code == 303
    # And the counting starts afresh: three more guesses from one address are stopped again.
    for _ in range(3):
        assert (
            _sign_in(app.test_client(), user.email, "x", **_from("198.51.100.1")).status_code == 401
        )
    assert _sign_in(app.test_client(), user.email, **_from("198.51.100.1")).status_code == 429


def test_unlocking_with_rate_limits_off_says_so(app, make_staff):
    user = make_staff()
    result = app.test_cli_runner().invoke(args=["users", "unlock", user.email])
    assert result.exit_code == 0, result.output
    assert "rate limiting is off" in result.output


def test_unlocking_an_unknown_account_is_refused(app):
    result = app.test_cli_runner().invoke(args=["users", "unlock", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no staff user with email nobody@example.com" in result.output


REDIS_URL = os.environ.get("LEADFORM_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="LEADFORM_TEST_REDIS_URL is not set")
def test_unlock_reaches_the_counters_in_redis_from_another_process(
    throttled, app_config, monkeypatch, request
):
    import redis

    from leadform import create_app
    from leadform.web.extensions import limiter

    prefix = f"leadform-test-{uuid.uuid4().hex}"
    app_config.update(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix)
    # Flask-Limiter keeps the first key prefix it was given on its shared Limiter object.
    monkeypatch.setattr(limiter, "_key_prefix", "")
    app = request.getfixturevalue("app")
    user = request.getfixturevalue("make_staff")("manager")
    store = redis.Redis.from_url(REDIS_URL)
    try:
        for n in range(6):
            _sign_in(app.test_client(), user.email, "wrong", **_from(f"203.0.113.{n // 3}"))
        assert _sign_in(app.test_client(), user.email, **_from("192.0.2.10")).status_code == 429
        assert store.keys(f"*{prefix}*"), "no counter in Redis"

        # The operator's command runs in a process of its own: another app, the same Redis.
        operator = create_app(app_config)
        result = operator.test_cli_runner().invoke(args=["users", "unlock", user.email])
        assert result.exit_code == 0, result.output
        assert "memory://" not in result.output
        with operator.app_context():
            get_engine().dispose()

        assert _sign_in(app.test_client(), user.email, **_from("203.0.113.0")).status_code == 303
    finally:
        for key in store.keys(f"*{prefix}*"):
            store.delete(key)
        store.close()


#: What someone types into the email field when the cursor was in the wrong box.
TYPED_PASSWORD = "Tr0ub4dor&3-secret"


@pytest.mark.usefixtures("throttled")
def test_a_password_typed_as_the_email_is_neither_stored_nor_logged(app, db, make_staff, caplog):
    from leadform.web.extensions import limiter

    user = make_staff("manager")
    for n in range(6):
        response = _sign_in(app.test_client(), TYPED_PASSWORD, "x", **_from(f"198.51.100.{n}"))
        assert response.status_code == 401
    with caplog.at_level("WARNING"):
        throttled = _sign_in(app.test_client(), TYPED_PASSWORD, "x", **_from("198.51.100.9"))
    assert throttled.status_code == 429
    assert "sign-in throttled for an unknown account from 198.51.100.9" in caplog.text

    failed = [data for _, data in _audit_actions(db, "login.failed")]
    assert failed == [{"account": "unknown"}] * 6
    assert TYPED_PASSWORD.casefold() not in repr(failed).casefold()
    assert TYPED_PASSWORD.casefold() not in caplog.text.casefold()
    # Not in the throttle's counters either (Redis in production; memory here).
    assert not [k for k in limiter.storage.storage if TYPED_PASSWORD.casefold() in k.casefold()]

    # A real account's failures name it, as the account knows itself.
    _sign_in(app.test_client(), user.email.upper(), "wrong", **_from("192.0.2.1"))
    assert [data for actor, data in _audit_actions(db, "login.failed") if actor == user.id] == [
        {"email": user.email}
    ]
    for _ in range(3):
        _sign_in(app.test_client(), user.email, "wrong", **_from("192.0.2.2"))
    with caplog.at_level("WARNING"):
        assert _sign_in(app.test_client(), user.email, **_from("192.0.2.2")).status_code == 429
    assert f"sign-in throttled for staff user {user.id} from 192.0.2.2" in caplog.text


@pytest.mark.usefixtures("throttled")
def test_login_is_throttled_per_address(app, make_staff):
    user = make_staff()
    attacker = app.test_client()
    for n in range(5):
        response = _sign_in(attacker, f"guess{n}@example.com", "wrong", **_from("203.0.113.5"))
        assert response.status_code == 401
    blocked = _sign_in(attacker, user.email, **_from("203.0.113.5"))
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
    # The same person from another address signs in.
    assert _sign_in(app.test_client(), user.email, **_from("203.0.113.6")).status_code == 303


@pytest.mark.usefixtures("throttled")
def test_successful_sign_ins_do_not_count_against_the_throttle(app, make_staff):
    user = make_staff()
    for _ in range(6):
        client = app.test_client()
        assert _sign_in(client, user.email, **_from("192.0.2.1")).status_code == 303


# --- sessions ending ------------------------------------------------------------------


def test_logout_ends_every_session_of_the_user(app, client, login_as):
    user = login_as("counselor")
    laptop = app.test_client()
    assert _sign_in(laptop, user.email).status_code == 303
    assert laptop.get("/staff/").status_code == 200
    client.post("/staff/logout")
    response = laptop.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login")


def test_deactivating_with_the_cli_ends_sessions_and_sign_in(app, db, client, login_as):
    user = login_as("counselor")
    copied = client.get_cookie("leadform_session").value
    assert client.get("/staff/").status_code == 200

    result = app.test_cli_runner().invoke(args=["users", "deactivate", user.email])
    assert result.exit_code == 0, result.output

    assert client.get("/staff/").status_code == 302
    other = app.test_client()
    other.set_cookie("leadform_session", copied)
    assert other.get("/staff/").status_code == 302
    again = _sign_in(app.test_client(), user.email)
    assert again.status_code == 401
    assert "don&#39;t match an active account" in again.get_data(as_text=True)
    assert [actor for actor, _ in _audit_actions(db, "login.failed")] == [user.id]


@pytest.fixture
def clock(monkeypatch):
    """The clock the session timeouts read, moved by hand: clock.advance(minutes=...)."""

    class Clock:
        now = 1_800_000_000.0

        def time(self):
            return self.now

        def advance(self, **delta):
            self.now += dt.timedelta(**delta).total_seconds()

    fake = Clock()
    monkeypatch.setattr(auth, "time", fake)
    return fake


def test_idle_session_times_out_after_30_minutes(client, login_as, clock):
    login_as()
    clock.advance(minutes=29)
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=29)  # active a moment ago, so still signed in
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=30, seconds=1)
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session timed out. Please sign in again." in page
    clock.advance(minutes=-40)  # even within the window again, that session is over
    assert client.get("/staff/").status_code == 302


def test_active_session_ends_after_12_hours(client, login_as, clock):
    login_as()
    for _ in range(36):  # a request every 20 minutes, for 12 hours
        clock.advance(minutes=20)
        assert client.get("/staff/").status_code == 200
    clock.advance(minutes=20)
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login")


def test_a_remember_me_cookie_does_not_sign_anyone_in(app, make_staff):
    user = make_staff("admin")
    with app.test_request_context():
        # A correctly signed cookie, as if remember-me had ever been issued.
        token = encode_cookie(f"{user.id}:{user.session_version}")
    client = app.test_client()
    client.set_cookie("remember_token", token)
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login")


def test_sign_in_sets_no_remember_me_cookie(client, login_as):
    login_as()
    assert client.get_cookie("remember_token") is None
    session_cookie = client.get_cookie("leadform_session")
    assert session_cookie.expires is None  # a browser-session cookie
    assert session_cookie.http_only


# --- CSRF on the sign-in form -----------------------------------------------------------


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


@pytest.mark.usefixtures("csrf_on")
def test_sign_in_works_with_the_forms_csrf_token(client, make_staff):
    user = make_staff()
    token = _csrf_token(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    assert client.get("/staff/").status_code == 200


@pytest.mark.usefixtures("csrf_on")
def test_a_stale_sign_in_form_is_shown_again_with_the_email_kept(app, db, make_staff):
    user = make_staff()
    client = app.test_client()
    client.get("/staff/login?next=/staff/%3Fstatus%3Dnew")
    response = client.post(
        "/staff/login?next=/staff/%3Fstatus%3Dnew",
        data={"email": user.email, "password": PASSWORD, "csrf_token": "stale"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The sign-in page had expired. Please enter your password again." in page
    assert f'value="{user.email}"' in page
    assert PASSWORD not in page
    assert client.get("/staff/").status_code == 302  # not signed in
    assert not _audit_actions(db, "login")
    # The page carries a fresh token that works, and still goes where asked.
    again = client.post(
        "/staff/login?next=/staff/%3Fstatus%3Dnew",
        data={"email": user.email, "password": PASSWORD, "csrf_token": _csrf_token(page)},
    )
    assert again.status_code == 303
    assert again.headers["Location"] == "/staff/?status=new"


# --- passwords --------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id(db, make_staff):
    user = make_staff(password="a long enough password")
    assert user.password_hash.startswith("$argon2id$")
    assert "a long enough password" not in user.password_hash


def test_typing_on_the_lead_page_keeps_the_session_alive(client, login_as, clock):
    # The lead page calls /staff/keep-alive while someone types a note: 50 minutes of
    # typing must not end in the sign-in page and a lost note.
    login_as()
    for _ in range(5):
        clock.advance(minutes=10)
        assert client.post("/staff/keep-alive").status_code == 204
    clock.advance(minutes=10)
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=31)  # then truly idle
    assert client.post("/staff/keep-alive").status_code == 302
