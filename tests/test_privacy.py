"""The built-in privacy notice at /privacy, which the consent text's "privacy policy" means."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from factories import PROGRAM, set_config
from flask import Flask

from leadform import create_app

STRONG_KEY = "Xq3v9Lr0-production-key-with-plenty-of-entropy-0123"


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: tags dropped, whitespace collapsed."""
    body = html.split("<main", 1)[1].split(">", 1)[1].split("</main>", 1)[0]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return text.replace(" .", ".").replace(" ,", ",")


def test_without_a_policy_url_the_consent_links_lead_to_a_notice_that_exists(client):
    form_page = client.get(f"/programs/{PROGRAM}").get_data(as_text=True)
    assert "See our privacy policy" in form_page  # what the consent text promises
    links = set(
        re.findall(
            r'<a [^>]*href="([^"]+)"[^>]*>(?:Read our privacy policy|Privacy policy)<', form_page
        )
    )
    assert links == {"/privacy"}  # under the consent checkbox and in the footer

    response = client.get("/privacy")
    assert response.status_code == 200
    text = visible_text(response.get_data(as_text=True))
    assert "Privacy notice for information requests" in text
    for heading in ("What we collect", "Why we use it", "How long we keep it", "Your choices"):
        assert heading in text
    # What is collected, in words: the form's fields and the evidence kept with them.
    for item in (
        "phone number",
        "ZIP or postal code",
        "IP address",
        "the exact wording you agreed to",
    ):
        assert item in text
    assert "by text message only if you checked the box asking for texts" in text
    assert "up to three years after we last hear from you" in text  # the default retention
    assert "Get a copy, correct it or erase it" in text
    # No address configured: the person still learns whom to ask.
    assert "ask the enrollment counselor who contacts you, or reply to any message" in text
    assert "mailto:" not in response.get_data(as_text=True)


def test_the_notice_says_what_the_college_configured(app, client):
    set_config(
        app,
        PRIVACY_CONTACT_EMAIL="privacy@riverbend.example.edu",
        PRIVACY_CONTACT_NAME="Registrar's Office",
        PRIVACY_RETENTION="We keep requests for 18 months after our last contact with you.",
    )
    html = client.get("/privacy").get_data(as_text=True)
    text = visible_text(html)
    assert "We keep requests for 18 months after our last contact with you." in text
    assert "email privacy@riverbend.example.edu (Registrar's Office)" in text
    assert 'href="mailto:privacy@riverbend.example.edu"' in html
    assert "three years" not in text


def test_with_a_policy_url_privacy_goes_to_the_colleges_policy(app, client):
    url = "https://www.college.example/privacy"
    set_config(app, PRIVACY_URL=url)
    response = client.get("/privacy")
    assert response.status_code == 302
    assert response.headers["Location"] == url


@pytest.mark.parametrize("value", ["privacy", "privacy at college.edu", "a@b@c.edu"])
def test_a_privacy_contact_that_is_not_an_address_refuses_to_start(database_url, value):
    with pytest.raises(RuntimeError, match="LEADFORM_PRIVACY_CONTACT_EMAIL"):
        create_app(
            {"DATABASE_URL": database_url, "SECRET_KEY": "k" * 40, "PRIVACY_CONTACT_EMAIL": value}
        )


@pytest.fixture
def start_production(database_url: str) -> Iterator[Any]:
    """start_production(**settings): create a production app, dispose of it afterwards."""
    apps: list[Flask] = []

    def start(**settings: Any) -> Flask:
        config = {"ENV": "production", "SECRET_KEY": STRONG_KEY, "DATABASE_URL": database_url}
        apps.append(create_app({**config, **settings}))
        return apps[-1]

    yield start
    for started in apps:
        started.extensions["leadform.engine"].dispose()


def privacy_warnings(caplog: Any) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "PRIVACY" in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({}, True),
        ({"PRIVACY_CONTACT_EMAIL": "privacy@college.example.edu"}, False),
        ({"PRIVACY_URL": "https://www.college.example.edu/privacy"}, False),
    ],
)
def test_production_warns_when_nobody_answers_privacy_requests(
    start_production, caplog, settings, warned
):
    with caplog.at_level(logging.WARNING):
        start_production(**settings)
    warnings = privacy_warnings(caplog)
    assert bool(warnings) is warned
    if warned:
        assert "LEADFORM_PRIVACY_CONTACT_EMAIL" in warnings[0]
