"""A counselor's day in a real browser: sign in, find a lead, work it; hostile markup stays text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The browser goes through CSRF like a person would."""
    app_config["WTF_CSRF_ENABLED"] = True
    return app_config


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of any alert/confirm a page opened: there must be none."""
    return []


@pytest.fixture
def page(browser: Browser, dialogs: list[str]) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


@pytest.fixture
def counselor(make_staff: Any) -> Any:
    """The counselor who signs in."""
    return make_staff("counselor", name="Casey Counselor", email="casey@staff.example.com")


def sign_in(page: Page, base: str, user: Any) -> None:
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff/?$"))


def flash(page: Page, text: str) -> Any:
    """The flash message with this text."""
    return page.get_by_role("status").filter(has_text=text)


def open_lead(page: Page, base: str, lead: Any, email: str, name: str) -> None:
    """Find the lead with the queue's search box; open it by URL where the queue has none."""
    search = page.get_by_role("searchbox")
    if search.count() == 0:
        search = page.get_by_label("Search")
    if search.count() > 0:
        search.first.fill(email)
        search.first.press("Enter")
        page.get_by_role("link", name=re.compile(re.escape(name))).first.click()
    else:
        page.goto(f"{base}/staff/leads/{lead.id}")
    # Opened from the queue, the page carries the queue view back (breadcrumb, previous/next).
    expect(page).to_have_url(re.compile(rf"/staff/leads/{lead.id}(\?from=[^&]*)?$"))


def test_counselor_works_a_lead_and_sees_the_timeline(
    counselor: Any, make_lead: Any, live_server: str, page: Page, dialogs: list[str]
) -> None:
    make_lead(email="someone.else@example.com", first_name="Other", owner=counselor)
    lead = make_lead(
        email="jordan.rivera@example.com",
        first_name="Jordan",
        last_name="Rivera",
        phone="317-555-0142",
        phone_e164="+13175550142",
        owner=counselor,
    )
    make_lead(email="third@example.com", first_name="Third", owner=counselor)

    sign_in(page, live_server, counselor)
    open_lead(page, live_server, lead, "jordan.rivera@example.com", "Jordan Rivera")
    expect(page.get_by_role("heading", level=1)).to_have_text("Jordan Rivera")
    expect(page.get_by_role("link", name="(317) 555-0142")).to_have_attribute(
        "href", "tel:+13175550142"
    )

    status_form = page.locator("#status-form")
    status_form.get_by_label("Status").select_option(label="Qualified")
    status_form.get_by_role("button", name="Change status").click()
    expect(flash(page, "Status changed to Qualified.")).to_be_visible()

    note_form = page.locator("#note-form")
    note_form.get_by_label("Note").fill("Wants evening classes; ask about FAFSA.")
    note_form.get_by_role("button", name="Add note").click()
    expect(flash(page, "Note added.")).to_be_visible()

    contact_form = page.locator("#contact-form")
    contact_form.get_by_label("Channel").select_option(label="Call")
    contact_form.get_by_label("Outcome").select_option(label="Reached them")
    contact_form.get_by_label("Note").fill("Talked about the spring start.")
    contact_form.get_by_role("button", name="Log contact").click()
    expect(flash(page, "Contact attempt logged (call).")).to_be_visible()

    timeline = page.locator("#timeline li")
    expect(timeline.nth(0)).to_contain_text("Call: Reached them. Talked about the spring start.")
    expect(timeline.nth(0)).to_contain_text("Casey Counselor")
    expect(timeline.nth(1)).to_contain_text("Wants evening classes; ask about FAFSA.")
    expect(timeline.nth(2)).to_contain_text("Status changed from New to Qualified.")
    expect(page.locator("#details-heading + dl")).to_contain_text("to first contact")
    assert dialogs == []


def test_hostile_markup_renders_as_text(
    counselor: Any, make_lead: Any, live_server: str, page: Page, dialogs: list[str]
) -> None:
    lead = make_lead(
        email="hostile@example.com", first_name=HOSTILE, comments=HOSTILE, owner=counselor
    )

    sign_in(page, live_server, counselor)
    page.goto(f"{live_server}/staff/leads/{lead.id}")
    note_form = page.locator("#note-form")
    note_form.get_by_label("Note").fill(HOSTILE)
    note_form.get_by_role("button", name="Add note").click()
    expect(flash(page, "Note added.")).to_be_visible()
    page.wait_for_load_state("networkidle")

    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE)
    expect(page.locator("#timeline")).to_contain_text(HOSTILE)
    expect(page.locator("#submissions")).to_contain_text(HOSTILE)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script", has_text="alert").count() == 0
    assert dialogs == []


def test_typing_a_note_tells_the_server_someone_is_there(
    counselor: Any, make_lead: Any, live_server: str, page: Page
) -> None:
    lead = make_lead(email="typing@example.com", owner=counselor)
    sign_in(page, live_server, counselor)
    page.goto(f"{live_server}/staff/leads/{lead.id}")
    # Once a minute in use; at once here.
    page.locator("[data-keep-alive-url]").evaluate("el => { el.dataset.keepAliveEvery = '0'; }")
    with page.expect_response(re.compile(r"/staff/keep-alive$")) as answer:
        page.locator("#note-form").get_by_label("Note").press_sequentially("Still on the call")
    assert answer.value.status == 204
    assert answer.value.request.method == "POST"
