"""A database outage, for real: the app talks to a PostgreSQL port where nothing listens.

What a person sees is a calm 503 with Retry-After, never a stack trace; someone who typed a
request gets the form back with every answer kept, and can send it again once it is over.
Errors are handled as in production (TESTING off), where a bug would be a 500.
"""

from __future__ import annotations

import html
import logging
import re
import socket
from collections.abc import Iterator

import pytest
from factories import PROGRAM, count, hidden_fields, valid_form
from flask import Flask
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from leadform import create_app
from leadform.context import get_engine, get_session, settings
from leadform.core.accounts import users
from leadform.db import build_engine
from leadform.models import Submission

NOT_SAVED = "We couldn't save your request yet"
TRACE_WORDS = ("Traceback", "OperationalError", "psycopg", "Connection refused", "port ")


@pytest.fixture
def closed_port_url() -> str:
    """A PostgreSQL URL on a local port that nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"postgresql://leadform:secret@127.0.0.1:{port}/leadform"


@pytest.fixture
def production_like(app_config):
    """Errors handled as in production: no exception reaches the test."""
    app_config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False, CATALOG_CACHE_SECONDS=60)


class Outage:
    """Swap the app's engine for one on the closed port, and back."""

    def __init__(self, app: Flask, url: str) -> None:
        self.app = app
        self.url = url
        self.saved = (app.extensions["leadform.engine"], app.extensions["leadform.sessionmaker"])
        self.down = build_engine(url)

    def start(self) -> None:
        self.app.extensions["leadform.engine"] = self.down
        self.app.extensions["leadform.sessionmaker"] = sessionmaker(
            self.down, expire_on_commit=False
        )

    def end(self) -> None:
        engine, factory = self.saved
        self.app.extensions["leadform.engine"] = engine
        self.app.extensions["leadform.sessionmaker"] = factory


@pytest.fixture
def outage(app: Flask, closed_port_url: str) -> Iterator[Outage]:
    switch = Outage(app, closed_port_url)
    yield switch
    switch.end()
    switch.down.dispose()


def text(response):
    return html.unescape(response.get_data(as_text=True))


def checked_boxes(body: str) -> set[str]:
    """The names of the ticked checkboxes on a page."""
    tags = re.findall(r"<input[^>]*>", body)
    return {
        re.search(r'name="([^"]+)"', tag).group(1)
        for tag in tags
        if 'type="checkbox"' in tag and re.search(r"\schecked[\s>]", tag)
    }


def assert_no_trace(response):
    page = text(response)
    for word in TRACE_WORDS:
        assert word not in page, word


def assert_retry_after(response):
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


# --- the request-info form: what was typed is kept -----------------------------------------


def test_a_request_sent_during_an_outage_comes_back_with_every_value(
    production_like, app, outage, caplog
):
    client = app.test_client()
    page = client.get("/request-info").get_data(as_text=True)  # before: the catalog is cached
    data = valid_form(start_term="", sms_opt_in="y", utm_source="newsletter")
    payload = {**hidden_fields(page), **data}
    payload.pop("program")
    payload["program"] = PROGRAM
    outage.start()

    with caplog.at_level(logging.ERROR):
        response = client.post("/request-info", data=payload)

    assert_retry_after(response)
    assert response.headers["Cache-Control"] == "private, no-store"
    page = text(response)
    assert NOT_SAVED in page
    assert_no_trace(response)
    again = hidden_fields(response.get_data(as_text=True))
    # Every value the person typed or chose is on the page again.
    body = response.get_data(as_text=True)
    for name in ("first_name", "email", "phone", "postal_code"):
        assert f'value="{html.escape(data[name], quote=True)}"' in body, name
    assert "O&#39;Neil-Gómez" in body
    assert "Can I study part time?" in page
    assert f'<option selected value="{PROGRAM}">' in body
    assert '<option selected value="high_school">' in body
    assert checked_boxes(body) == {"consent", "sms_opt_in"}
    assert again["utm_source"] == "newsletter"
    # The same form token: the same idempotency key and the time trap still counting.
    assert again["form_token"] == payload["form_token"]
    # One line for operators, no traceback per request.
    logged = [r for r in caplog.records if "unavailable on POST /request-info" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is None

    # The database is back: the form as shown is sent again and stored once.
    outage.end()
    resent = {**again, **data, "program": PROGRAM}
    assert client.post("/request-info", data=resent).status_code == 303
    assert "Thank you" in text(client.get("/request-info/thanks"))
    with app.app_context():
        assert count(get_session(), Submission) == 1


def test_the_program_page_form_comes_back_on_the_program_page(production_like, app, outage):
    client = app.test_client()
    page = client.get(f"/programs/{PROGRAM}").get_data(as_text=True)
    outage.start()
    response = client.post("/request-info", data={**hidden_fields(page), **valid_form()})
    assert_retry_after(response)
    page = text(response)
    assert NOT_SAVED in page
    assert "Medical Billing and Coding" in page
    assert 'name="return_to"' in response.get_data(as_text=True)
    assert 'value="maria@example.com"' in response.get_data(as_text=True)


def test_the_form_is_still_served_from_the_catalog_cache_during_an_outage(
    production_like, app, outage
):
    client = app.test_client()
    assert client.get("/request-info").status_code == 200
    outage.start()
    # The cached catalog is enough to show a blank form; only sending it needs the database.
    response = client.get("/request-info")
    assert response.status_code == 200
    assert "Request more information" in text(response)


def test_a_request_without_any_catalog_read_gets_the_calm_page(production_like, app, outage):
    # A process that started during the outage has never read the programs or consent
    # text, so it cannot show the form again: it says what happened and how to get back.
    client = app.test_client()
    outage.start()
    response = client.post("/request-info", data=valid_form())
    assert_retry_after(response)
    page = text(response)
    assert "couldn't be saved yet" in page
    assert "back button" in page
    assert_no_trace(response)


# --- an app whose database is down from the start ------------------------------------------


@pytest.fixture
def down_app(closed_port_url) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": False,
            "PROPAGATE_EXCEPTIONS": False,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            "DATABASE_URL": closed_port_url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    yield app
    with app.app_context():
        get_engine().dispose()


@pytest.mark.parametrize("path", ["/", f"/programs/{PROGRAM}", "/request-info"])
def test_public_pages_are_a_calm_503_when_the_database_is_down(down_app, path):
    response = down_app.test_client().get(path)
    assert_retry_after(response)
    page = text(response)
    assert "This page is temporarily unavailable" in page
    assert "Please try again in a few minutes" in page
    assert "Go to the program list" in page
    assert "staff-header" not in page
    assert_no_trace(response)


def test_api_clients_get_json_503(down_app):
    response = down_app.test_client().get("/", headers={"Accept": "application/json"})
    assert_retry_after(response)
    assert response.get_json() == {"error": "This page is temporarily unavailable"}


def test_health_probes_tell_liveness_from_readiness(down_app):
    client = down_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_staff_sign_in_is_a_staff_503_when_the_database_is_down(down_app):
    response = down_app.test_client().post(
        "/staff/login", data={"email": "a@staff.example.com", "password": "x"}
    )
    assert_retry_after(response)
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert "staff-header" in page
    assert "The workspace can't reach its database right now" in page
    assert "Back to the queue" in page
    assert "Request information" not in page
    assert "Go to the program list" not in page
    assert_no_trace(response)


# --- staff pages when the database goes away mid-session -----------------------------------


def test_a_signed_in_counselor_sees_a_staff_503(production_like, app, outage):
    with app.app_context():
        session = get_session()
        users.create_user(
            session,
            "c@staff.example.com",
            "Casey",
            "counselor",
            "correct horse battery",
            argon2_profile=settings().argon2_profile,
        )
        session.commit()
    client = app.test_client()
    signed_in = client.post(
        "/staff/login", data={"email": "c@staff.example.com", "password": "correct horse battery"}
    )
    assert signed_in.status_code == 303
    outage.start()
    for response in (client.get("/staff/"), client.post("/staff/leads/1/notes", data={})):
        assert_retry_after(response)
        page = text(response)
        assert "staff-header" in page
        assert "Back to the queue" in page
        assert "Sign out" not in page  # the nav needs the user, who cannot be loaded now
        assert "Request information" not in page
        assert_no_trace(response)


# --- which database errors count as an outage ----------------------------------------------


def _raise(exc: Exception):
    def view():
        raise exc

    return view


def test_a_dropped_connection_is_an_outage(production_like, app):
    lost = DBAPIError(
        "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
    )
    app.add_url_rule("/_lost", "lost", _raise(lost))
    assert_retry_after(app.test_client().get("/_lost"))


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        DBAPIError("SELECT", {}, Exception("syntax error"), connection_invalidated=False),
    ],
)
def test_other_database_errors_stay_bugs(production_like, app, exc):
    app.add_url_rule("/_bug", "bug", _raise(exc))
    response = app.test_client().get("/_bug")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert "Something went wrong on our side" in text(response)


def test_in_tests_a_database_bug_still_fails_loudly(app):
    app.add_url_rule("/_bug", "bug", _raise(IntegrityError("INSERT", {}, Exception("dup"))))
    with pytest.raises(IntegrityError):
        app.test_client().get("/_bug")


def test_in_tests_an_outage_is_still_a_503(app):
    app.add_url_rule("/_down", "down", _raise(OperationalError("SELECT", {}, Exception("down"))))
    assert_retry_after(app.test_client().get("/_down"))


# --- in a browser --------------------------------------------------------------------------


def _fill_in(page) -> None:
    page.get_by_label("Program of interest").select_option(PROGRAM)
    page.get_by_label("First name").fill("Maria")
    page.get_by_label("Last name").fill("O'Neil-Gómez")
    page.get_by_label("Email", exact=True).fill("maria@example.com")
    page.locator("#consent").check()


@pytest.mark.browser
def test_in_a_browser_nothing_typed_is_lost_to_an_outage(
    production_like, app, outage, browser, live_server
):
    context = browser.new_context(viewport={"width": 360, "height": 800})
    context.set_default_timeout(5000)
    page = context.new_page()
    try:
        page.goto(live_server + "/request-info")
        _fill_in(page)
        outage.start()
        page.get_by_role("button", name="Request information").click()
        notice = page.locator("#form-notice")
        assert NOT_SAVED in notice.inner_text()
        assert page.evaluate("document.activeElement.id") == "form-notice"
        assert page.get_by_label("Last name").input_value() == "O'Neil-Gómez"
        assert page.locator("#consent").is_checked()

        outage.end()
        page.get_by_role("button", name="Request information").click()
        page.wait_for_url("**/request-info/thanks")

        # A process that never read the catalog shows the calm page and says to go back:
        # the browser does keep the answers there (the form page is no-store).
        page.goto(live_server + "/request-info")
        _fill_in(page)
        outage.start()
        cache = app.extensions["leadform.catalog_cache"]
        cache._entry = cache._last = None
        page.get_by_role("button", name="Request information").click()
        assert "back button" in page.locator("main").inner_text()
        outage.end()
        page.go_back()
        assert page.get_by_label("First name").input_value() == "Maria"
        assert page.locator("#consent").is_checked()
    finally:
        context.close()
