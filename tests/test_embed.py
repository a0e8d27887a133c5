"""The embed door without a browser: allowlist rules, the CLI, headers, the POST checks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from factories import PROGRAM, count, hidden_fields, valid_form
from sqlalchemy import select

from leadform.core import audit, embeds
from leadform.core.errors import ActionError
from leadform.models import AuditEvent, EmbedOrigin, Submission

SITE = "https://news.example.org"
PAGE = f"{SITE}/articles/nursing?utm_source=newsletter"


def allow(db: Any, *origins: str) -> None:
    for origin in origins:
        embeds.allow_origin(db, origin, audit.Actor(via="cli"))
    db.commit()


def embed_url(origin: str = SITE, page: str = PAGE, **params: str) -> str:
    from urllib.parse import urlencode

    query = {"origin": origin, "page": page, "ref": "https://search.example/", **params}
    return f"/embed/{PROGRAM}?{urlencode(query)}"


def embed_post(
    client: Any, data: dict[str, Any], *, origin: str | None = "http://localhost", **headers: str
) -> Any:
    if origin is not None:
        headers["Origin"] = origin
    return client.post(f"/embed/{PROGRAM}", data=data, headers=headers)


def served_fields(client: Any, url: str | None = None) -> dict[str, str]:
    fields = hidden_fields(client.get(url or embed_url()).get_data(as_text=True))
    fields.pop("program", None)
    fields.pop("return_to", None)
    return fields


# ---- the allowlist's rules (core) ----


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://WWW.Example.edu", "https://www.example.edu"),
        ("https://www.example.edu/", "https://www.example.edu"),
        ("https://www.example.edu:443", "https://www.example.edu"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("  https://a.example  ", "https://a.example"),
    ],
)
def test_origins_are_stored_as_browsers_spell_them(given, stored):
    assert embeds.normalize_origin(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "www.example.edu",
        "ftp://example.edu",
        "https://example.edu/articles",
        "https://example.edu?x=1",
        "https://example.edu#top",
        "https://user@example.edu",
        "https://*.example.edu",
        "https://exa mple.edu",
        "https://example.edu:99999",
        "https://a.example; script-src *",
        "",
    ],
)
def test_anything_but_scheme_host_port_is_refused(given):
    with pytest.raises(ActionError):
        embeds.normalize_origin(given)


@pytest.mark.parametrize(
    ("origin", "fetch_site", "ok"),
    [
        ("http://leadform.test", "same-origin", True),  # the form in the frame posting
        (SITE, "cross-site", True),  # an allowed site posting the form itself
        ("https://evil.example", "cross-site", False),
        ("null", "cross-site", False),  # a sandboxed document
        ("https://news.example.org.evil.example", None, False),
        (None, None, True),  # no headers at all: token and rate limit
        (None, "same-origin", True),
        (None, "cross-site", False),
    ],
)
def test_post_origin_check(origin, fetch_site, ok):
    allowed = frozenset({SITE})
    result = embeds.post_allowed(
        origin=origin, fetch_site=fetch_site, own_origin="http://leadform.test", allowed=allowed
    )
    assert result is ok


# ---- the CLI ----


def test_cli_allow_list_revoke(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["embed", "allow", "https://News.Example.org/"])
    assert result.exit_code == 0, result.output
    assert "allowed https://news.example.org" in result.output
    again = runner.invoke(args=["embed", "allow", "https://news.example.org"])
    assert again.exit_code == 0
    assert "already allowed" in again.output
    runner.invoke(args=["embed", "allow", "http://localhost:8080"])

    listed = runner.invoke(args=["embed", "list"])
    assert listed.output.split() == ["http://localhost:8080", "https://news.example.org"]

    revoked = runner.invoke(args=["embed", "revoke", "https://news.example.org"])
    assert revoked.exit_code == 0
    assert "revoked https://news.example.org" in revoked.output
    assert runner.invoke(args=["embed", "list"]).output.split() == ["http://localhost:8080"]

    db.rollback()
    actions = [
        (e.action, e.data["origin"], e.data["via"])
        for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]
    assert actions == [
        ("embed_origin.allowed", "https://news.example.org", "cli"),
        ("embed_origin.allowed", "http://localhost:8080", "cli"),
        ("embed_origin.revoked", "https://news.example.org", "cli"),
    ]


def test_cli_refuses_a_path_and_unknown_revokes(app, db):
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["embed", "allow", "https://news.example.org/articles"])
    assert bad.exit_code != 0
    assert "has a path" in bad.output
    missing = runner.invoke(args=["embed", "revoke", "https://nobody.example"])
    assert missing.exit_code != 0
    assert "nothing to revoke" in missing.output
    empty = runner.invoke(args=["embed", "list"])
    assert empty.exit_code == 0
    assert "flask embed allow" in empty.output
    db.rollback()
    assert count(db, EmbedOrigin) == 0
    assert count(db, AuditEvent) == 0


# ---- headers: who may frame what ----


def test_embed_page_may_be_framed_by_the_allowed_host_only(client, db):
    allow(db, SITE, "https://other.example.com")
    response = client.get(embed_url())
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert re.search(r"frame-ancestors ([^;]*)", csp).group(1) == SITE
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers


def test_embed_page_named_by_a_site_not_on_the_list(client, db):
    allow(db, SITE)
    response = client.get(embed_url(origin="https://evil.example", page="https://evil.example/x"))
    csp = response.headers["Content-Security-Policy"]
    assert re.search(r"frame-ancestors ([^;]*)", csp).group(1) == SITE  # not evil.example
    page = response.get_data(as_text=True)
    assert 'data-parent-origin=""' in page  # the frame posts its messages nowhere
    assert "evil.example" not in hidden_fields(page)["page_url"]


def test_with_an_empty_list_nobody_may_frame_the_embed_page(client):
    response = client.get(f"/embed/{PROGRAM}")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/", f"/programs/{PROGRAM}", "/request-info", "/staff/login"])
def test_every_other_page_still_refuses_framing(client, db, path):
    allow(db, SITE)
    response = client.get(path)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_revoked_site_may_no_longer_frame(app, client, db):
    allow(db, SITE)
    assert SITE in client.get(embed_url()).headers["Content-Security-Policy"]
    embeds.revoke_origin(db, SITE, audit.Actor(via="cli"))
    db.commit()
    # CATALOG_CACHE_SECONDS is 0 in tests: the next request reads the list again.
    assert "frame-ancestors 'none'" in client.get(embed_url()).headers["Content-Security-Policy"]


def test_embed_script_is_javascript_and_cached(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.cache_control.public
    assert response.cache_control.max_age == 3600
    assert "leadform:submitted" in response.get_data(as_text=True)
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    response.close()


def test_the_embed_page_is_light(client, db):
    allow(db, SITE)
    page = client.get(embed_url()).get_data(as_text=True)
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert stylesheets == ["/static/css/embed.css"]
    assert "bootstrap" not in page
    assert "<script>" not in page  # no inline script (CSP script-src 'self')


# ---- the POST ----


@pytest.fixture
def app_config(app_config: dict[str, Any], request: Any) -> dict[str, Any]:
    # As in production: CSRF on. The embed form must work without it (and without cookies).
    app_config["WTF_CSRF_ENABLED"] = True
    if "rate_limit" in request.node.name:
        app_config.update(RATELIMIT_ENABLED=True, SUBMIT_RATE_LIMIT="2 per minute")
    return app_config


def test_embed_post_is_stored_as_embed_with_the_host_page_as_evidence(client, db):
    allow(db, SITE)
    fields = served_fields(client, embed_url(utm_source="newsletter", utm_campaign="fall"))
    assert "csrf_token" not in fields
    response = embed_post(client, {**fields, **valid_form()})
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "Thank you" in page
    assert f'data-submitted="{PROGRAM}"' in page
    assert f'data-parent-origin="{SITE}"' in page
    assert "maria" not in page.lower()  # nothing personal on the page the host hears from
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("leadform_session") is None
    submission = db.scalars(select(Submission)).one()
    assert submission.channel == "embed"
    assert submission.page_url == PAGE
    assert submission.referrer == "https://search.example/"
    assert (submission.utm_source, submission.utm_campaign) == ("newsletter", "fall")
    assert submission.consent_text_id is not None


def test_embed_post_from_a_site_not_on_the_list_is_refused(client, db):
    allow(db, SITE)
    fields = served_fields(client)
    response = embed_post(client, {**fields, **valid_form()}, origin="https://evil.example")
    assert response.status_code == 403
    assert count(db, Submission) == 0
    cross = embed_post(
        client, {**fields, **valid_form()}, origin=None, **{"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert count(db, Submission) == 0


def test_allowed_site_may_post_the_form_itself(client, db):
    allow(db, SITE)
    fields = served_fields(client)
    response = embed_post(client, {**fields, **valid_form()}, origin=SITE)
    assert response.status_code == 200
    assert count(db, Submission) == 1


def test_embed_errors_rerender_in_the_frame_with_values_kept(client, db):
    allow(db, SITE)
    fields = served_fields(client)
    response = embed_post(client, {**fields, **valid_form(email="not-an-email")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Please fix 1 problem" in page
    assert 'value="not-an-email"' in page
    assert 'value="Maria"' in page
    assert hidden_fields(page)["page_url"] == PAGE  # attribution survives the error
    assert "X-Frame-Options" not in response.headers
    assert SITE in response.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in response.headers
    assert count(db, Submission) == 0


def test_embed_post_without_a_token_asks_again(client, db):
    allow(db, SITE)
    fields = served_fields(client)
    fields.pop("form_token")
    response = embed_post(client, {**fields, **valid_form()})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "select Request information again" in page
    assert 'value="Maria"' in page
    assert count(db, Submission) == 0


def test_same_embed_form_twice_is_stored_once(client, db):
    allow(db, SITE)
    data = {**served_fields(client), **valid_form()}
    first = embed_post(client, data)
    second = embed_post(client, data)
    assert first.status_code == second.status_code == 200
    assert "Thank you" in second.get_data(as_text=True)
    assert count(db, Submission) == 1


def test_page_url_of_another_site_is_not_taken_as_evidence(client, db):
    allow(db, SITE)
    data = {**served_fields(client), **valid_form(), "page_url": "https://evil.example/fake"}
    response = embed_post(client, data)
    assert response.status_code == 200
    assert "evil.example" not in db.scalars(select(Submission)).one().page_url


def test_embed_honeypot_is_quarantined_like_the_program_pages(client, db):
    allow(db, SITE)
    data = {**served_fields(client), **valid_form(), "website": "http://spam.example"}
    response = embed_post(client, data)
    assert response.status_code == 200  # answered as if all went well
    submission = db.scalars(select(Submission)).one()
    assert (submission.channel, submission.spam_verdict) == ("embed", "quarantined")


def test_unknown_program_shows_the_selector(client, db):
    allow(db, SITE)
    response = client.get(f"/embed/no-such-program?origin={SITE}")
    assert response.status_code == 200
    assert 'name="program"' in response.get_data(as_text=True)
    assert 'id="program"' in response.get_data(as_text=True)


def test_rate_limit_applies_to_embed_posts(client, db):
    allow(db, SITE)
    data = {**served_fields(client), **valid_form()}
    codes = [embed_post(client, data).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = embed_post(client, data)
    # Shown in the frame (not a frame the browser blocks), saying what happened.
    assert "X-Frame-Options" not in limited.headers
    assert SITE in limited.headers["Content-Security-Policy"]
    assert "Too many requests" in limited.get_data(as_text=True)


def test_rate_limit_is_one_budget_for_both_doors(client, db):
    allow(db, SITE)
    data = {**served_fields(client), **valid_form()}
    public = hidden_fields(client.get("/request-info").get_data(as_text=True))
    sent = {**public, **valid_form(email="other@example.com")}
    assert client.post("/request-info", data=sent).status_code == 303
    assert embed_post(client, data).status_code == 200
    assert embed_post(client, data).status_code == 429


def test_embed_pages_are_private_and_not_stored(client, db):
    allow(db, SITE)
    form = client.get(embed_url())
    assert form.headers["Cache-Control"] == "private, no-store"  # a token per visitor
    thanks = embed_post(client, {**served_fields(client), **valid_form()})
    assert thanks.headers["Cache-Control"] == "private, no-store"


def test_embed_form_offers_the_email_hint_like_the_program_pages(client, db):
    allow(db, SITE)
    data = {**served_fields(client), **valid_form(email="maria@yaho.com", consent=None)}
    body = embed_post(client, data).get_data(as_text=True)
    assert "Did you mean <strong>maria@yahoo.com</strong>?" in body
