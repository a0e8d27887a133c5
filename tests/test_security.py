"""Safe by default: CSRF, rate limits, client IP, headers, cookies, start-up checks, errors."""

from __future__ import annotations

import html
import logging
import os
import re
import time
import uuid

import pytest
from factories import count, form_token, hidden_fields, set_config, valid_form
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from leadform import create_app
from leadform.context import get_engine
from leadform.models import Submission
from leadform.web.extensions import limiter

STRONG_KEY = "Xq3v9Lr0-production-key-with-plenty-of-entropy-0123"
RESUBMIT = "select Request information again"


# --- CSRF and stale forms ------------------------------------------------------------------


@pytest.fixture
def csrf_on(app_config):
    """CSRF as in production (the test configuration turns it off elsewhere)."""
    app_config["WTF_CSRF_ENABLED"] = True


def assert_form_kept(response, data) -> None:
    """The form came back with what the person typed and a line asking to submit again."""
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = html.unescape(response.get_data(as_text=True))
    assert RESUBMIT in page
    for name in ("first_name", "last_name", "email", "phone", "postal_code"):
        assert f'value="{data[name]}"' in page, name
    assert data["comments"] in page
    assert "<form" in page


@pytest.mark.parametrize("csrf_token", [None, "", "wrong", "IjEyMyI.wrong.signature"])
def test_post_without_a_valid_csrf_token_is_not_stored_and_keeps_values(
    csrf_on, client, db, csrf_token
):
    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    assert fields["csrf_token"]
    fields.pop("csrf_token")
    if csrf_token is not None:
        fields["csrf_token"] = csrf_token
    data = valid_form(first_name="Zoë", last_name="O'Brien")
    response = client.post("/request-info", data={**fields, **data})
    assert_form_kept(response, data)
    assert count(db, Submission) == 0

    # The page it came back with carries working tokens: one more click sends it.
    again = hidden_fields(response.get_data(as_text=True))
    assert client.post("/request-info", data={**again, **data}).status_code == 303
    assert count(db, Submission) == 1


def test_valid_csrf_token_goes_through(csrf_on, client, db):
    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    response = client.post("/request-info", data={**fields, **valid_form()})
    assert response.status_code == 303
    assert count(db, Submission) == 1


def test_csrf_token_from_another_session_is_refused(csrf_on, app, client, db):
    other = app.test_client()
    fields = hidden_fields(other.get("/request-info").get_data(as_text=True))
    client.get("/request-info")  # this browser has a session of its own
    response = client.post("/request-info", data={**fields, **valid_form()})
    assert_form_kept(response, valid_form())
    assert count(db, Submission) == 0


def test_expired_session_keeps_the_time_trap_satisfied(csrf_on, app, client, db):
    # The session cookie expired while the form was open for a minute: the re-rendered form
    # must not make a quick second click look like a bot.
    set_config(app, MIN_FORM_SECONDS=3)
    data = {"csrf_token": "stale", "form_token": form_token(app, age=60), **valid_form()}
    response = client.post("/request-info", data=data)
    assert_form_kept(response, valid_form())
    again = hidden_fields(response.get_data(as_text=True))
    assert client.post("/request-info", data={**again, **valid_form()}).status_code == 303
    assert db.scalars(select(Submission)).one().spam_verdict == "ok"


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "eyJuIjoiYSIsInQiOjF9.forged-signature", "x" * 3000, None],
    ids=["empty", "garbage", "forged", "huge", "missing"],
)
def test_missing_or_forged_form_token_keeps_values(client, db, token):
    data = valid_form()
    payload = {**data} if token is None else {"form_token": token, **data}
    response = client.post("/request-info", data=payload)
    assert_form_kept(response, data)
    assert count(db, Submission) == 0
    assert hidden_fields(response.get_data(as_text=True))["form_token"]


def test_form_token_signed_with_another_key_is_refused(client, db):
    forged = URLSafeSerializer("another-key-" * 4, salt="leadform.form-token").dumps(
        {"n": "forged-nonce", "t": time.time() - 60}
    )
    response = client.post("/request-info", data={"form_token": forged, **valid_form()})
    assert_form_kept(response, valid_form())
    assert count(db, Submission) == 0


def test_forms_open_during_a_key_rotation_still_go_through(app, client, db):
    # The old key stays in SECRET_KEY_FALLBACKS for a while: a form it signed is accepted.
    set_config(app, MIN_FORM_SECONDS=3)
    old_key = "the-old-key-" * 4
    set_config(app, SECRET_KEY_FALLBACKS=[old_key])
    signed_before = URLSafeSerializer(old_key, salt="leadform.form-token").dumps(
        {"n": "old-nonce", "t": time.time() - 60}
    )
    response = client.post("/request-info", data={"form_token": signed_before, **valid_form()})
    assert response.status_code == 303
    assert db.scalars(select(Submission)).one().spam_verdict == "ok"


def test_a_token_got_back_for_a_missing_one_still_counts_from_now(app, client, db):
    # A bot that posts without a token, then at once with the one it got back, is too fast.
    set_config(app, MIN_FORM_SECONDS=3)
    response = client.post("/request-info", data=valid_form())
    assert response.status_code == 400
    fresh = hidden_fields(response.get_data(as_text=True))["form_token"]
    client.post("/request-info", data={"form_token": fresh, **valid_form()})
    submission = db.scalars(select(Submission)).one()
    assert (submission.spam_verdict, submission.spam_reasons) == ("quarantined", "too_fast")


def test_expired_form_token_keeps_values_and_the_next_click_is_accepted(app, client, db):
    set_config(app, FORM_TOKEN_MAX_AGE=60, MIN_FORM_SECONDS=3)
    old = form_token(app, age=3600)
    data = valid_form(comments="Open since yesterday")
    response = client.post("/request-info", data={"form_token": old, **data})
    assert_form_kept(response, data)
    assert count(db, Submission) == 0
    fresh = hidden_fields(response.get_data(as_text=True))["form_token"]
    assert fresh != old
    assert client.post("/request-info", data={"form_token": fresh, **data}).status_code == 303
    assert db.scalars(select(Submission)).one().spam_verdict == "ok"


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture
def limited(app_config):
    """Rate limiting on, two submissions a minute."""
    app_config.update(RATELIMIT_ENABLED=True, SUBMIT_RATE_LIMIT="2 per minute")


def post_fresh(app, client, **kw):
    return client.post("/request-info", data={"form_token": form_token(app), **valid_form()}, **kw)


def test_too_many_submissions_get_a_friendly_429(limited, app, client, db):
    assert post_fresh(app, client).status_code == 303
    assert post_fresh(app, client).status_code == 303
    response = post_fresh(app, client)
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Too many requests" in page
    assert "Please wait a minute and try again" in page
    assert "<html" in page
    assert count(db, Submission) == 2
    assert client.get("/request-info").status_code == 200  # reading the form is not limited


REDIS_URL = os.environ.get("LEADFORM_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="LEADFORM_TEST_REDIS_URL is not set")
def test_rate_limit_counts_in_redis(limited, app_config, monkeypatch, request):
    import redis

    prefix = f"leadform-test-{uuid.uuid4().hex}"
    app_config.update(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix)
    # Flask-Limiter keeps the first key prefix it was given on its shared Limiter object.
    monkeypatch.setattr(limiter, "_key_prefix", "")
    app = request.getfixturevalue("app")
    client = app.test_client()
    store = redis.Redis.from_url(REDIS_URL)
    try:
        assert post_fresh(app, client).status_code == 303
        assert post_fresh(app, client).status_code == 303
        assert post_fresh(app, client).status_code == 429
        assert store.keys(f"*{prefix}*"), "no counter in Redis"
    finally:
        for key in store.keys(f"*{prefix}*"):
            store.delete(key)
        store.close()


# --- client IP -----------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_trusted_proxies(app, client, db):
    post_fresh(app, client, headers={"X-Forwarded-For": "203.0.113.9"})
    assert db.scalars(select(Submission)).one().ip == "127.0.0.1"


@pytest.fixture
def one_proxy(app_config):
    app_config["TRUSTED_PROXIES"] = 1


def test_behind_one_proxy_the_last_hop_is_the_client(one_proxy, app, client, db):
    # The first entry is whatever the client claimed; the proxy appended the real address.
    post_fresh(app, client, headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.9"})
    assert db.scalars(select(Submission)).one().ip == "203.0.113.9"


def test_behind_a_proxy_each_client_has_its_own_limit(one_proxy, limited, app_config, app):
    set_config(app, SUBMIT_RATE_LIMIT="1 per minute")
    client = app.test_client()
    first = {"X-Forwarded-For": "203.0.113.1"}
    second = {"X-Forwarded-For": "203.0.113.2"}
    assert post_fresh(app, client, headers=first).status_code == 303
    assert post_fresh(app, client, headers=first).status_code == 429
    assert post_fresh(app, client, headers=second).status_code == 303


# --- headers and cookies -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/request-info", "/programs/master-health-informatics", "/no-such-page"]
)
def test_security_headers(client, path):
    response = client.get(path)
    csp = {
        part.split()[0]: part.split()[1:]
        for part in response.headers["Content-Security-Policy"].split(";")
        if part.strip()
    }
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script(client):
    for path in ("/", "/request-info", "/programs/master-health-informatics"):
        page = client.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag or "nonce=" in tag, tag
        assert not re.search(r"\son[a-z]+=", page), "inline event handler"


def test_session_cookie_is_httponly_and_samesite_lax(app, client):
    response = post_fresh(app, client)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("leadform_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain-HTTP development


@pytest.mark.parametrize(
    "secret", [None, "", "dev", "change-me", "CHANGEME", "short-but-random-9f8e7d", "x" * 31]
)
def test_production_refuses_to_start_without_a_real_secret_key(database_url, secret):
    config = {"ENV": "production", "DATABASE_URL": database_url}
    if secret is not None:
        config["SECRET_KEY"] = secret
    with pytest.raises(RuntimeError, match="LEADFORM_SECRET_KEY"):
        create_app(config)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "www.college.example/privacy", "//x"])
def test_a_privacy_url_that_is_not_a_web_address_refuses_to_start(database_url, url):
    with pytest.raises(RuntimeError, match="LEADFORM_PRIVACY_URL"):
        create_app({"DATABASE_URL": database_url, "SECRET_KEY": "k" * 40, "PRIVACY_URL": url})


def test_secret_key_fallbacks_come_from_the_environment_as_a_json_list(monkeypatch, database_url):
    monkeypatch.setenv("LEADFORM_DATABASE_URL", database_url)
    monkeypatch.setenv("LEADFORM_SECRET_KEY_FALLBACKS", '["the-old-key"]')
    assert create_app().config["SECRET_KEY_FALLBACKS"] == ["the-old-key"]


def test_production_from_environment_refuses_a_missing_key(monkeypatch, database_url):
    monkeypatch.setenv("LEADFORM_ENV", "production")
    monkeypatch.setenv("LEADFORM_DATABASE_URL", database_url)
    monkeypatch.delenv("LEADFORM_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="LEADFORM_SECRET_KEY"):
        create_app()


def test_production_accepts_a_numeric_key_from_the_environment(monkeypatch, database_url):
    # from_prefixed_env parses values as JSON: an all-digit key must not crash start-up.
    monkeypatch.setenv("LEADFORM_ENV", "production")
    monkeypatch.setenv("LEADFORM_DATABASE_URL", database_url)
    monkeypatch.setenv("LEADFORM_SECRET_KEY", "7" * 40)
    app = create_app()
    assert app.config["SECRET_KEY"] == "7" * 40
    with app.app_context():
        get_engine().dispose()


def test_production_warns_when_no_base_url_is_set(database_url, caplog):
    """Production never takes the links in mail from a request: it says BASE_URL is missing."""
    prod = create_app({"ENV": "production", "SECRET_KEY": STRONG_KEY, "DATABASE_URL": database_url})
    with prod.app_context():
        get_engine().dispose()
    assert "LEADFORM_BASE_URL is not set" in caplog.text


def test_production_cookie_is_secure(app, database_url):
    prod = create_app({"ENV": "production", "SECRET_KEY": STRONG_KEY, "DATABASE_URL": database_url})
    try:
        response = prod.test_client().get("/request-info", base_url="https://localhost")
        assert response.status_code == 200
        cookie = response.headers["Set-Cookie"]  # the CSRF token's session
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
    finally:
        with prod.app_context():
            get_engine().dispose()


# --- error pages ---------------------------------------------------------------------------


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = html.unescape(response.get_data(as_text=True))
    assert "We couldn't find that page" in page
    assert 'href="/"' in page


def test_wrong_method_is_a_friendly_405(client):
    response = client.put("/request-info")
    assert response.status_code == 405
    assert "That action isn't available here" in html.unescape(response.get_data(as_text=True))


def test_oversized_post_is_a_friendly_413(app, client, db):
    data = {"form_token": form_token(app), **valid_form(comments="x" * 300_000)}
    response = client.post("/request-info", data=data)
    assert response.status_code == 413
    assert "That request was too large" in response.get_data(as_text=True)
    assert count(db, Submission) == 0


@pytest.fixture
def production_like(app_config):
    """Errors handled as in production: no exception reaches the test."""
    app_config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)


def test_a_bug_shows_a_friendly_500_and_is_logged(production_like, app, caplog):
    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", "boom", boom)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page
    assert "secret internals" not in page
    assert "Traceback" not in page
    assert any("unhandled error on GET /boom" in r.getMessage() for r in caplog.records)

    api = app.test_client().get("/boom", headers={"Accept": "application/json"})
    assert api.status_code == 500
    assert api.get_json() == {"error": "Something went wrong on our side"}


def test_csrf_tokens_last_as_long_as_a_staff_session(database_url):
    # A form open in a live session must not fail on an expired CSRF token.
    config = {"DATABASE_URL": database_url, "SECRET_KEY": "k" * 40}
    assert create_app(config).config["WTF_CSRF_TIME_LIMIT"] == 12 * 3600
    longer = create_app({**config, "STAFF_ABSOLUTE_TIMEOUT_HOURS": 24})
    assert longer.config["WTF_CSRF_TIME_LIMIT"] == 24 * 3600
