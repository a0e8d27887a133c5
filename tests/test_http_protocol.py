"""HTTP as monitors, caches and browsers expect it: HEAD, Cache-Control, Allow, Retry-After,
HSTS in production, and error pages in the layout of the part of the site they belong to."""

from __future__ import annotations

import html

import pytest
from factories import PROGRAM, count, form_token, valid_form

from leadform import create_app
from leadform.context import get_engine
from leadform.models import Lead, Submission

STRONG_KEY = "Xq3v9Lr0-production-key-with-plenty-of-entropy-0123"
HSTS = "max-age=31536000; includeSubDomains"
PUBLIC_PAGES = [
    "/",
    f"/programs/{PROGRAM}",
    "/request-info",
    f"/request-info?program={PROGRAM}",
    "/healthz",
    "/readyz",
]


def text(response):
    return html.unescape(response.get_data(as_text=True))


# --- HEAD ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_head_answers_like_get_without_a_body(client, db, path):
    # Uptime monitors and link checkers send HEAD: the page is there, whatever the method.
    head = client.head(path)
    assert head.status_code == 200
    assert head.get_data() == b""
    assert head.headers["Content-Type"] == client.get(path).headers["Content-Type"]
    assert count(db, Submission) == 0
    assert count(db, Lead) == 0


def test_head_on_the_thanks_page_after_a_request(client, submit):
    assert submit().status_code == 303
    head = client.head("/request-info/thanks")
    assert head.status_code == 200
    assert head.get_data() == b""
    # HEAD does not use up the page: the person still sees their confirmation.
    assert "Thank you" in text(client.get("/request-info/thanks"))


def test_head_on_the_thanks_page_without_a_request_redirects_like_get(client):
    assert client.head("/request-info/thanks").status_code == 303
    assert client.get("/request-info/thanks").status_code == 303


# --- Cache-Control on pages with per-visitor values ---------------------------------------


@pytest.mark.parametrize("path", [f"/programs/{PROGRAM}", "/request-info", "/request-info?x=1"])
def test_form_pages_are_never_kept_by_a_shared_cache(client, path):
    # The page carries this visitor's CSRF and form tokens.
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_form_shown_again_with_errors_is_not_cached(app, client):
    data = {"form_token": form_token(app), **valid_form(email="not-an-email")}
    response = client.post("/request-info", data=data)
    assert response.status_code == 422
    assert 'value="Maria"' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_form_shown_again_after_a_stale_token_is_not_cached(client):
    response = client.post("/request-info", data={"form_token": "forged", **valid_form()})
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_thanks_page_is_not_cached(client, submit):
    submit()
    response = client.get("/request-info/thanks")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_program_directory_stays_cacheable(client):
    # No token and nothing personal on it.
    response = client.get("/")
    assert response.status_code == 200
    assert 'name="csrf_token"' not in response.get_data(as_text=True)
    assert "no-store" not in response.headers.get("Cache-Control", "")


# --- protocol headers on error responses ---------------------------------------------------


def test_405_says_which_methods_are_allowed(client):
    response = client.put("/request-info")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "POST"}
    assert "That action isn't available here" in text(response)


def test_405_on_a_staff_page_says_allow_too(client):
    response = client.get("/staff/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"].split(", ")


@pytest.fixture
def limited(app_config):
    """Rate limiting on (read when the app is built), one submission a minute."""
    app_config.update(RATELIMIT_ENABLED=True, SUBMIT_RATE_LIMIT="1 per minute")


def test_public_429_says_when_to_try_again(limited, app, client):
    data = {"form_token": form_token(app), **valid_form()}
    assert client.post("/request-info", data=data).status_code == 303
    data = {"form_token": form_token(app), **valid_form(email="other@example.com")}
    response = client.post("/request-info", data=data)
    assert response.status_code == 429
    assert "Too many requests" in text(response)
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.fixture
def production_app(database_url, app):
    # `app` first: it builds the schema and the catalog this app then reads.
    prod = create_app({"ENV": "production", "SECRET_KEY": STRONG_KEY, "DATABASE_URL": database_url})
    yield prod
    with prod.app_context():
        get_engine().dispose()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/request-info",
        "/no-such-page",
        "/healthz",
        "/staff/login",
        "/static/css/app.css",
    ],
)
def test_production_sends_hsts_on_every_response(production_app, path):
    response = production_app.test_client().get(path, base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == HSTS
    response.close()


def test_production_sends_hsts_on_errors_too(production_app):
    response = production_app.test_client().put("/request-info", base_url="https://localhost")
    assert response.status_code == 405
    assert response.headers["Strict-Transport-Security"] == HSTS


def test_development_sends_no_hsts(client):
    # Served over plain HTTP: HSTS would be wrong there.
    for path in ("/", "/request-info", "/no-such-page"):
        assert "Strict-Transport-Security" not in client.get(path).headers


# --- staff error pages use the staff layout ------------------------------------------------


def assert_staff_error_page(response, title):
    page = text(response)
    assert title in page
    assert "staff-header" in page
    assert "Back to the queue" in page
    assert 'href="/staff/"' in page
    # Nothing of the public site's header or way out.
    assert "Request information" not in page
    assert "Go to the program list" not in page


def test_staff_404_uses_the_staff_layout(client, login_as):
    login_as("counselor")
    response = client.get("/staff/leads/999999")
    assert response.status_code == 404
    assert_staff_error_page(response, "We couldn't find that page")
    assert "Sign out" in text(response)  # the signed-in header, as on every staff page


def test_unknown_staff_url_404_uses_the_staff_layout(client):
    response = client.get("/staff/no-such-page")
    assert response.status_code == 404
    assert_staff_error_page(response, "We couldn't find that page")


def test_staff_403_uses_the_staff_layout(client, login_as, make_staff, make_lead):
    someone_else = make_staff("counselor")
    lead = make_lead(owner=someone_else)
    login_as("counselor")
    response = client.get(f"/staff/leads/{lead.id}")
    assert response.status_code == 403
    assert_staff_error_page(response, "You don't have access to this page")


@pytest.fixture
def production_like(app_config):
    """Errors handled as in production: no exception reaches the test."""
    app_config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)


def test_staff_500_uses_the_staff_layout(production_like, app):
    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/staff/_boom", "staff_boom", boom)
    response = app.test_client().get("/staff/_boom")
    assert response.status_code == 500
    assert_staff_error_page(response, "Something went wrong on our side")
    assert "secret internals" not in text(response)


def test_public_error_pages_keep_the_public_layout(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = text(response)
    assert "Go to the program list" in page
    assert "Request information" in page
    assert "Back to the queue" not in page
