"""HTTP as monitors, caches and browsers expect it: HEAD and Cache-Control."""

from __future__ import annotations

import html

import pytest
from factories import PROGRAM, count, form_token, valid_form

from leadform.models import Lead, Submission

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
