"""The per-process catalog cache and the cached blank form pages behave like reading fresh."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from factories import PROGRAM, hidden_fields, valid_form
from sqlalchemy import delete, select, update

from leadform.core.intake import catalog as catalog_cache_module
from leadform.core.programs import set_consent_text
from leadform.models import ConsentText, Program, Submission

NEW_CONSENT = "By selecting Request information you let Lakeside College contact you (v2)."


class FakeClock:
    """Stands in for the time module in the catalog cache, so a test can move time on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(catalog_cache_module, "time", fake)
    return fake


def _program_options(html: str) -> list[str]:
    select_html = re.search(r'<select[^>]*name="program".*?</select>', html, re.S)
    assert select_html is not None
    return re.findall(r'<option[^>]*value="([^"]+)"', select_html.group(0))


@pytest.fixture
def catalog_ttl(app_config: dict[str, Any]) -> None:
    app_config["CATALOG_CACHE_SECONDS"] = 10


@pytest.fixture
def csrf_on(app_config: dict[str, Any]) -> None:
    app_config["WTF_CSRF_ENABLED"] = True


def test_catalog_is_reused_within_the_ttl_and_reread_after_it(catalog_ttl, clock, client, db):
    assert PROGRAM in _program_options(client.get("/request-info").get_data(as_text=True))

    db.execute(update(Program).where(Program.slug == PROGRAM).values(active=False))
    db.commit()

    clock.now += 9  # within the TTL: the cached catalog still lists it
    assert PROGRAM in _program_options(client.get("/request-info").get_data(as_text=True))

    clock.now += 2  # expired: read again
    page = client.get("/request-info").get_data(as_text=True)
    assert PROGRAM not in _program_options(page)
    refused = client.post("/request-info", data={**hidden_fields(page), **valid_form()})
    assert refused.status_code == 422
    assert "Choose a program from the list." in refused.get_data(as_text=True)


def test_the_consent_version_shown_is_the_one_recorded(client, db):
    page = client.get("/request-info").get_data(as_text=True)
    set_consent_text(db, NEW_CONSENT)  # a new version goes live while the form is open
    db.commit()

    assert (
        client.post("/request-info", data={**hidden_fields(page), **valid_form()}).status_code
        == 303
    )
    stored = db.scalars(select(Submission)).one()
    assert stored.consent_version == 1

    assert NEW_CONSENT in client.get("/request-info").get_data(as_text=True)


def test_a_form_whose_consent_version_is_gone_is_shown_again(client, db):
    page = client.get("/request-info").get_data(as_text=True)
    set_consent_text(db, NEW_CONSENT)
    db.execute(delete(ConsentText).where(ConsentText.version == 1))
    db.commit()

    again = client.post("/request-info", data={**hidden_fields(page), **valid_form()})
    assert again.status_code == 400
    html = again.get_data(as_text=True)
    assert "This form was open for a while" in html
    assert NEW_CONSENT in html
    assert db.scalars(select(Submission)).first() is None

    resent = client.post("/request-info", data={**hidden_fields(html), **valid_form()})
    assert resent.status_code == 303
    assert db.scalars(select(Submission)).one().consent_version == 2


def test_a_form_shown_again_carries_the_consent_version_it_now_shows(client, db):
    page = client.get("/request-info").get_data(as_text=True)
    set_consent_text(db, NEW_CONSENT)
    db.commit()

    refused = client.post(
        "/request-info", data={**hidden_fields(page), **valid_form(email="not-an-email")}
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert NEW_CONSENT in html
    assert (
        client.post("/request-info", data={**hidden_fields(html), **valid_form()}).status_code
        == 303
    )
    assert db.scalars(select(Submission)).one().consent_version == 2


def test_each_visitor_gets_their_own_tokens_and_attribution(csrf_on, app, db):
    first, second = app.test_client(), app.test_client()
    hostile = '"><script>alert(1)</script>&'
    a = first.get(f"/request-info?program={PROGRAM}&utm_source=alpha&utm_term=x%26y")
    b = second.get(f"/request-info?program={PROGRAM}&utm_source=" + hostile.replace("&", "%26"))
    a_html, b_html = a.get_data(as_text=True), b.get_data(as_text=True)
    a_fields, b_fields = hidden_fields(a_html), hidden_fields(b_html)

    assert a_fields["utm_source"] == "alpha"
    assert a_fields["utm_term"] == "x&amp;y"
    assert b_fields["utm_term"] == ""
    assert "<script>alert(1)</script>" not in b_html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;"' in b_html
    assert a_fields["csrf_token"] != b_fields["csrf_token"]
    assert a_fields["form_token"] != b_fields["form_token"]

    for browser, fields, email in (
        (first, a_fields, "a@example.com"),
        (second, b_fields, "b@example.com"),
    ):
        typed = {k: html.unescape(v) for k, v in fields.items() if k != "program"}
        posted = browser.post("/request-info", data={**typed, **valid_form(email=email)})
        assert posted.status_code == 303
    sources = dict(db.execute(select(Submission.email, Submission.utm_source)).all())
    assert sources == {"a@example.com": "alpha", "b@example.com": hostile}


def _without_tokens(html: str) -> str:
    return re.sub(r'(name="(?:csrf_token|form_token)"[^>]*value=")[^"]*"', r'\1"', html)


@pytest.mark.parametrize(
    "path",
    [
        "/request-info",
        f"/request-info?program={PROGRAM}&utm_source=a%22b&utm_campaign=%3Cfall%3E",
        f"/programs/{PROGRAM}?utm_medium=email",
    ],
)
def test_cached_form_page_is_the_page_rendered_afresh(app, client, path):
    from leadform.web.public import views

    served = [client.get(path).get_data(as_text=True) for _ in range(2)]  # a miss, then a hit

    with app.test_request_context(path):
        catalog = views._catalog()
        slug = path.split("?")[0].removeprefix("/programs/") if "/programs/" in path else None
        program = catalog.by_slug.get(slug or "") or catalog.by_slug.get(
            _arg(path, "program") or ""
        )
        values: dict[str, Any] = {name: _arg(path, name) or "" for name in views.UTM_FIELDS}
        values["form_token"] = "x"
        form = views._new_form(catalog, program=program, values=values)
        template = "public/program.html" if slug else "public/request_info.html"
        fresh, status = views._render_form(form, catalog, program=program, template=template)
    assert status == 200
    assert _without_tokens(served[0]) == _without_tokens(served[1]) == _without_tokens(fresh)


def _arg(path: str, name: str) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(path).query).get(name)
    return values[0] if values else None


def test_a_flashed_message_is_shown_once_and_not_cached(app, client):
    from flask import flash

    @app.get("/test-flash")
    def _flash() -> str:
        flash("Only for this visitor.")
        return "ok"

    client.get("/test-flash")
    assert "Only for this visitor." in client.get("/request-info").get_data(as_text=True)
    assert "Only for this visitor." not in client.get("/request-info").get_data(as_text=True)
    other = app.test_client()
    assert "Only for this visitor." not in other.get("/request-info").get_data(as_text=True)
