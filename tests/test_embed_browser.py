"""The embeddable form on another site, in a real browser (Playwright, headless Chromium).

The app runs on http://127.0.0.1:<port> (live_server); the "college's partner sites" are
tiny servers on http://localhost:<other port>: another site, so the iframe is a third-party
context, as on the web.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import PROGRAM
from playwright.sync_api import Browser, Frame, Page, expect
from sqlalchemy import select

from leadform.context import get_session
from leadform.core import audit, embeds
from leadform.core.intake import store
from leadform.models import Submission

pytestmark = pytest.mark.browser

PROGRAM_NAME = "Medical Billing and Coding Certificate"
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Partner article</title>
<link rel="stylesheet" href="/host.css">
</head><body>
<h1>Five careers in health care you can start in a year</h1>
<p>Medical billing and coding specialists keep clinics running. Here is how to start.</p>
<h2>Request more information</h2>
<script src="{leadform}/embed.js" {program} async></script>
<p id="after">More articles below the form.</p>
<script src="/host.js"></script>
</body></html>
"""
HOST_CSS = (
    "body { font-family: Georgia, serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }"
)
# The host's own analytics hook: records the event it receives, as a site would.
HOST_JS = """
window.leadformEvents = [];
window.addEventListener("leadform:submitted", function (event) {
  window.leadformEvents.push({ detail: event.detail, target: event.target.tagName });
});
"""


class HostSite:
    """A tiny site on its own port: every path serves the host page (with the embed line)."""

    def __init__(self, leadform: str, program: str | None = PROGRAM) -> None:
        page = HOST_PAGE.format(
            leadform=leadform, program=f'data-program="{program}"' if program else ""
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body, kind = {
                    "/host.js": (HOST_JS.encode(), "text/javascript"),
                    "/host.css": (HOST_CSS.encode(), "text/css"),
                }.get(self.path, (page, "text/html; charset=utf-8"))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def host_site(live_server: str) -> Iterator[Callable[..., HostSite]]:
    """host_site(program=SLUG|None): start a partner site that embeds the form."""
    sites: list[HostSite] = []

    def start(program: str | None = PROGRAM) -> HostSite:
        site = HostSite(live_server, program)
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.close()


def allow(app: Any, origin: str) -> None:
    with app.app_context():
        session = get_session()
        embeds.allow_origin(session, origin, audit.Actor(via="cli"))
        session.commit()


@pytest.fixture
def open_host(browser: Browser) -> Iterator[Callable[..., Page]]:
    contexts = []

    def open_(url: str, viewport: dict[str, int] | None = None, **options: Any) -> Page:
        context = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900}, **options
        )
        context.set_default_timeout(8000)
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()


def form_frame(page: Page) -> Frame:
    page.wait_for_selector("iframe.leadform-embed")
    frame = page.frame_locator("iframe.leadform-embed")
    expect(frame.get_by_role("button", name="Request information")).to_be_visible()
    element = page.query_selector("iframe.leadform-embed")
    assert element is not None
    content = element.content_frame()
    assert content is not None
    return content


def frame_height(page: Page) -> float:
    return page.eval_on_selector("iframe.leadform-embed", "e => e.getBoundingClientRect().height")


def content_height(frame: Frame) -> float:
    return frame.evaluate("document.documentElement.getBoundingClientRect().height")


def fill_valid(frame: Frame, consent_text: str) -> None:
    frame.get_by_label("First name", exact=True).fill("Maria")
    frame.get_by_label("Last name", exact=True).fill("O'Neil-Gómez")
    frame.get_by_label("Email", exact=True).fill("maria@example.com")
    frame.get_by_label("Phone", exact=True).fill("(317) 555-0123")
    frame.get_by_label("ZIP code", exact=True).fill("46204")
    frame.get_by_label("Preferred start", exact=True).select_option(label="Not sure yet")
    frame.get_by_label(consent_text, exact=True).check()


@pytest.fixture
def consent_text(app: Any) -> str:
    with app.app_context():
        return store.get_active_consent(get_session()).text


def stored_submission(app: Any) -> dict[str, Any] | None:
    """The one stored submission's evidence (read and let go: SQLite's lock)."""
    with app.app_context():
        session = get_session()
        row = session.scalars(select(Submission)).one_or_none()
        names = ("channel", "page_url", "referrer", "utm_source", "utm_campaign", "program_slug")
        found = None if row is None else {name: getattr(row, name) for name in (*names, "email")}
        session.rollback()
        return found


def expect_height_follows_content(page: Page, frame: Frame) -> None:
    """The iframe becomes as tall as the page inside it (both measured as they settle)."""
    deadline = time.monotonic() + 8
    while abs(frame_height(page) - content_height(frame)) > 1:
        assert time.monotonic() < deadline, (frame_height(page), content_height(frame))
        page.wait_for_timeout(50)


def run_embed_flow(app: Any, page: Page, host: HostSite, consent_text: str) -> None:
    frame = form_frame(page)
    expect_height_follows_content(page, frame)
    blank_height = frame_height(page)

    # Errors first: the frame grows with the error summary and messages.
    frame.get_by_role("button", name="Request information").click()
    frame = form_frame(page)
    expect(frame.get_by_role("alert")).to_contain_text("Please fix")
    expect_height_follows_content(page, frame)
    assert frame_height(page) > blank_height + 50

    fill_valid(frame, consent_text)
    frame.get_by_role("button", name="Request information").click()

    page.wait_for_function("window.leadformEvents.length > 0")
    thanks = page.frame_locator("iframe.leadform-embed")
    expect(thanks.get_by_role("heading", level=1)).to_contain_text("Thank you")
    expect(thanks.get_by_text(PROGRAM_NAME)).to_be_visible()
    events = page.evaluate("window.leadformEvents")
    assert events == [{"detail": {"program": PROGRAM}, "target": "SCRIPT"}]  # nothing personal

    submission = stored_submission(app)
    assert submission is not None
    assert submission["channel"] == "embed"
    assert submission["page_url"] == host.origin + HOST_PATH  # the host page, not the frame
    assert submission["utm_source"] == "partner-news"
    assert submission["utm_campaign"] == "fall"
    assert submission["program_slug"] == PROGRAM
    assert submission["email"] == "maria@example.com"


HOST_PATH = "/articles/health-careers?utm_source=partner-news&utm_campaign=fall"


def test_allowed_site_embeds_the_form_and_hears_of_the_request(
    app, host_site, open_host, consent_text
):
    host = host_site()
    allow(app, host.origin)
    page = open_host(host.origin + HOST_PATH)

    # The iframe sits where the script tag is, before the text that follows it.
    assert page.evaluate(
        "document.querySelector('iframe.leadform-embed').nextElementSibling.id === 'after'"
        " || document.querySelector('iframe.leadform-embed').nextElementSibling.tagName === 'P'"
    )
    run_embed_flow(app, page, host, consent_text)
    # Neither the host page nor the framed form set or needed a cookie.
    assert page.context.cookies() == []


def test_with_third_party_cookies_blocked_the_embed_still_works(
    app, browser, host_site, consent_text
):
    from conftest import CHROMIUM, CHROMIUM_ARGS

    host = host_site()
    allow(app, host.origin)
    # A second Chromium of the same Playwright, which blocks third-party cookies as Safari
    # and Firefox do by default.
    blocking = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--test-third-party-cookie-phaseout"]
    )
    if True:
        try:
            context = blocking.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(8000)
            page = context.new_page()
            page.goto(host.origin + HOST_PATH)
            # The framed form cannot keep a cookie here. (Over plain http this Chromium refuses
            # them in a cross-site frame even without the flag: SameSite=None needs Secure.)
            frame = form_frame(page)
            frame.evaluate("document.cookie = 'probe=1; SameSite=None; Secure'")
            frame.evaluate("document.cookie = 'probe2=1'")
            assert frame.evaluate("document.cookie") == ""
            run_embed_flow(app, page, host, consent_text)
            assert context.cookies() == []
        finally:
            blocking.close()


def test_site_not_on_the_list_cannot_frame_the_form(app, host_site, open_host):
    allowed = host_site()
    allow(app, allowed.origin)
    other = host_site()  # another port: another origin, not on the list
    page = open_host(other.origin + HOST_PATH)
    page.wait_for_selector("iframe.leadform-embed")
    page.wait_for_timeout(500)
    element = page.query_selector("iframe.leadform-embed")
    frame = element.content_frame() if element else None
    # Chromium blocks the frame (frame-ancestors): no form in it, nothing to fill in.
    assert frame is None or frame.query_selector("form") is None
    assert stored_submission(app) is None


def test_selector_form_when_no_program_is_given(app, host_site, open_host):
    host = host_site(program=None)
    allow(app, host.origin)
    page = open_host(host.origin + "/")
    frame = form_frame(page)
    expect(frame.get_by_label("Program of interest", exact=True)).to_be_visible()


@pytest.mark.parametrize("width", [1280, 360])
def test_embed_pages_pass_axe(app, browser, live_server, consent_text, width):
    """axe-core finds nothing serious on the embed form (blank, with errors) and its thanks."""
    from test_accessibility import axe_problems

    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(8000)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/embed/{PROGRAM}")
        problems = axe_problems(page, "embed form")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.get_by_role("button", name="Request information").click()
        expect(page.get_by_role("alert")).to_contain_text("Please fix")
        problems += axe_problems(page, "embed form with errors")
        fill_valid(page.main_frame, consent_text)
        page.get_by_role("button", name="Request information").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Thank you")
        problems += axe_problems(page, "embed thanks")
        assert problems == []
    finally:
        context.close()
