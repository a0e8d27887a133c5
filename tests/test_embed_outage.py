"""The embed form during a database outage: the answers come back in the frame (503)."""

from __future__ import annotations

import html

from factories import PROGRAM, count, hidden_fields, valid_form
from test_database_outage import (  # noqa: F401 - fixtures
    closed_port_url,
    outage,
    production_like,
)

from leadform.context import get_session
from leadform.core import audit, embeds
from leadform.models import Submission

SITE = "https://news.example.org"
PAGE = f"{SITE}/articles/nursing"


def test_an_embed_request_sent_during_an_outage_comes_back_in_the_frame(
    production_like,  # noqa: F811
    app,
    outage,  # noqa: F811
):
    with app.app_context():
        session = get_session()
        embeds.allow_origin(session, SITE, audit.Actor(via="cli"))
        session.commit()
    client = app.test_client()
    page = client.get(f"/embed/{PROGRAM}?origin={SITE}&page={PAGE}").get_data(as_text=True)
    fields = hidden_fields(page)  # the catalog and the allowlist are read and kept
    payload = {**fields, **valid_form()}
    outage.start()

    response = client.post(f"/embed/{PROGRAM}", data=payload, headers={"Origin": SITE})

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_data(as_text=True)
    assert "We couldn't save your request yet" in html.unescape(body)
    assert 'value="maria@example.com"' in body
    again = hidden_fields(body)
    assert again["form_token"] == fields["form_token"]
    assert again["page_url"] == PAGE
    # Still shown in the frame on the allowed site.
    assert "X-Frame-Options" not in response.headers
    assert f"frame-ancestors {SITE}" in response.headers["Content-Security-Policy"]

    outage.end()
    resent = client.post(
        f"/embed/{PROGRAM}", data={**again, **valid_form()}, headers={"Origin": SITE}
    )
    assert resent.status_code == 200
    assert "Thank you" in resent.get_data(as_text=True)
    with app.app_context():
        assert count(get_session(), Submission) == 1
