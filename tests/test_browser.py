"""The public form in a real browser: Playwright driving Debian's headless Chromium.

The `browser` fixture (conftest) skips these when /usr/bin/chromium is missing, unless
LEADFORM_REQUIRE_BROWSER=1 (CI), which turns a missing browser into a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import PROGRAM
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from leadform.context import get_session
from leadform.core.intake import store as service
from leadform.core.intake.email_typos import suggest_email
from leadform.core.intake.inquiry import SMS_OPT_IN_TEXT
from leadform.models import Lead, Program, Prospect, Submission

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 800}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
# The visible fields in the order a keyboard user meets them on /request-info ("A": the
# privacy policy link under the consent text, which refers to it).
FIELD_ORDER = [
    "program",
    "first_name",
    "last_name",
    "email",
    "phone",
    "country",
    "postal_code",
    "start_term",
    "education_level",
    "military",
    "comments",
    "consent",
    "A",
    "sms_opt_in",
]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """No time trap: the browser fills the form faster than a person."""
    app_config["MIN_FORM_SECONDS"] = 0
    return app_config


@pytest.fixture
def open_page(browser: Browser, live_server: str) -> Iterator[Callable[..., Page]]:
    """open_page(path, viewport=DESKTOP, javascript=True): a fresh browser tab on the app."""
    contexts = []

    def open_(path: str, viewport: dict[str, int] = DESKTOP, *, javascript: bool = True) -> Page:
        context = browser.new_context(viewport=viewport, java_script_enabled=javascript)
        context.set_default_timeout(5000)
        contexts.append(context)
        page = context.new_page()
        page.goto(live_server + path)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def consent_text(app: Any) -> str:
    """The active consent text, which is the consent checkbox's label."""
    with app.app_context():
        return service.get_active_consent(get_session()).text


def count(db: Any, model: Any) -> int:
    """Count rows, then end the read: on SQLite a transaction holds the write lock (BEGIN
    IMMEDIATE), which would keep the live server from storing the next submission."""
    rows = db.scalar(select(func.count()).select_from(model))
    db.rollback()
    return rows


def assert_no_horizontal_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def submit_button(page: Page) -> Any:
    return page.get_by_role("button", name="Request information", exact=True)


def fill_valid(page: Page, consent_text: str) -> None:
    """Fill the form the way a person reads it: by the visible labels."""
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Last name", exact=True).fill("O'Neil-Gómez")
    page.get_by_label("Email", exact=True).fill("Maria@Example.com")
    page.get_by_label("Phone", exact=True).fill("(317) 555-0123")
    page.get_by_label("Country", exact=True).select_option(label="United States")
    page.get_by_label("ZIP code", exact=True).fill("46204")
    page.get_by_label("Preferred start", exact=True).select_option(label="Not sure yet")
    page.get_by_label("Highest level of education", exact=True).select_option(
        label="Some college, no degree"
    )
    page.get_by_label("Military affiliation", exact=True).select_option(label="Veteran")
    page.get_by_label("Questions or comments", exact=True).fill("Can I study part time?")
    page.get_by_label(consent_text, exact=True).check()


def expect_thanks(page: Page, program_name: str) -> None:
    expect(page).to_have_url(re.compile(r"/request-info/thanks$"))  # no personal data in it
    expect(page.get_by_role("heading", level=1)).to_contain_text("Thank you")
    expect(page.get_by_text(program_name)).to_be_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_request_info_form_filled_by_labels_is_stored(open_page, viewport, consent_text, db):
    page = open_page("/request-info", viewport)
    assert_no_horizontal_scroll(page)
    consent = page.get_by_label(consent_text, exact=True)
    expect(consent).not_to_be_checked()

    page.get_by_label("Program of interest", exact=True).select_option(
        label="Master of Health Informatics"
    )
    fill_valid(page, consent_text)
    submit_button(page).click()

    expect_thanks(page, "Master of Health Informatics")
    assert_no_horizontal_scroll(page)
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.email_normalized, prospect.first_name) == ("maria@example.com", "Maria")
    assert prospect.phone == "+13175550123"
    lead = db.scalars(select(Lead)).one()
    assert lead.program.slug == "master-health-informatics"
    assert lead.prospect_id == prospect.id
    assert db.scalars(select(Submission)).one().consent is True


def test_program_page_form_is_stored_for_that_program(open_page, consent_text, db):
    page = open_page(f"/programs/{PROGRAM}", DESKTOP)
    fill_valid(page, consent_text)
    submit_button(page).click()

    expect_thanks(page, "Medical Billing and Coding Certificate")
    assert db.scalars(select(Lead)).one().program.slug == PROGRAM


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_empty_submit_shows_summary_and_field_errors(open_page, viewport, db):
    page = open_page("/request-info", viewport)
    submit_button(page).click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()  # keyboard and screen reader users start at the problems
    links = summary.get_by_role("link")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == ["#program", "#first_name", "#last_name", "#email", "#consent"]
    for field_id in ("program", "first_name", "last_name", "email", "consent"):
        field = page.locator(f"#{field_id}")
        expect(field).to_have_attribute("aria-invalid", "true")
        message = page.locator(f"#{field_id}-error")
        expect(message).to_be_visible()
        expect(field).to_have_attribute("aria-describedby", re.compile(rf"\b{field_id}-error\b"))
        # The summary line names the same problem as the message at the field.
        text = message.inner_text().removeprefix("Error:").strip()
        expect(summary.locator(f"a[href='#{field_id}']")).to_contain_text(text)
    expect(page.get_by_label("Phone", exact=True)).not_to_have_attribute("aria-invalid", "true")
    assert_no_horizontal_scroll(page)

    summary.get_by_role("link", name=re.compile("^Email")).click()
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    assert count(db, Submission) == count(db, Lead) == count(db, Prospect) == 0


def test_wrong_input_keeps_every_value(open_page, consent_text, db):
    page = open_page(f"/request-info?program={PROGRAM}", PHONE)
    fill_valid(page, consent_text)
    page.get_by_label("Email", exact=True).fill("maria@")
    page.get_by_label("Phone", exact=True).fill("12")
    page.get_by_label("ZIP code", exact=True).fill("ABCDE")
    submit_button(page).click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    for label in ("Email", "Phone", "ZIP code"):
        expect(page.get_by_label(label, exact=True)).to_have_attribute("aria-invalid", "true")
        expect(summary.get_by_role("link", name=re.compile(f"^{label}:"))).to_be_visible()
    expect(page.get_by_label("Program of interest", exact=True)).to_have_value(PROGRAM)
    expect(page.get_by_label("First name", exact=True)).to_have_value("Maria")
    expect(page.get_by_label("Last name", exact=True)).to_have_value("O'Neil-Gómez")
    expect(page.get_by_label("Email", exact=True)).to_have_value("maria@")
    expect(page.get_by_label("Phone", exact=True)).to_have_value("12")
    expect(page.get_by_label("ZIP code", exact=True)).to_have_value("ABCDE")
    expect(page.get_by_label("Preferred start", exact=True)).to_have_value("undecided")
    expect(page.get_by_label("Highest level of education", exact=True)).to_have_value(
        "some_college"
    )
    expect(page.get_by_label("Military affiliation", exact=True)).to_have_value("veteran")
    expect(page.get_by_label("Questions or comments", exact=True)).to_have_value(
        "Can I study part time?"
    )
    expect(page.get_by_label(consent_text, exact=True)).to_be_checked()
    assert_no_horizontal_scroll(page)
    assert count(db, Submission) == count(db, Lead) == 0


def focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.tagName")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_keyboard_alone_completes_the_form(open_page, viewport, db):
    page = open_page("/request-info", viewport)
    typed = {
        "program": "Master of Health",  # type-ahead picks the option
        "first_name": "Maria",
        "last_name": "Lopez",
        "email": "maria@example.com",
        "postal_code": "46204",
    }
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # site name
    for field_id in FIELD_ORDER:
        page.keyboard.press("Tab")
        assert focused_id(page) == field_id  # in reading order; the honeypot is never reached
        if field_id in typed:
            page.keyboard.type(typed[field_id])
        elif field_id == "consent":
            page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(submit_button(page)).to_be_focused()
    page.keyboard.press("Enter")

    expect_thanks(page, "Master of Health Informatics")
    lead = db.scalars(select(Lead)).one()
    assert lead.program.slug == "master-health-informatics"
    assert lead.prospect.email_normalized == "maria@example.com"


def test_program_page_works_without_javascript_on_a_phone(open_page, consent_text, db):
    page = open_page(f"/programs/{PROGRAM}", PHONE, javascript=False)
    assert_no_horizontal_scroll(page)
    submit_button(page).click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#first_name-error")).to_be_visible()
    assert count(db, Submission) == 0

    fill_valid(page, consent_text)  # the re-rendered form, program kept
    submit_button(page).click()
    expect_thanks(page, "Medical Billing and Coding Certificate")
    assert count(db, Lead) == 1


def test_directory_and_error_page_fit_a_phone(open_page, db):
    programs = db.scalar(select(func.count()).select_from(Program).where(Program.active))
    db.rollback()
    page = open_page("/", PHONE)
    cta = page.get_by_role("link", name=re.compile("^Request information about"))
    expect(cta).to_have_count(programs)
    assert_no_horizontal_scroll(page)
    page.goto(page.url + "no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("We couldn't find that page")
    assert_no_horizontal_scroll(page)


def tab_to(page: Page, field_id: str, limit: int = 40) -> None:
    """Press Tab until the field with this id has focus (keyboard only)."""
    for _ in range(limit):
        if focused_id(page) == field_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{field_id}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_canadian_prospect_fixes_wrong_input_by_keyboard(open_page, viewport, consent_text, db):
    page = open_page("/request-info", viewport)
    postal = page.get_by_label("ZIP code", exact=True)
    expect(postal).to_be_visible()
    tab_to(page, "program")
    page.keyboard.type("Master of Health")
    tab_to(page, "first_name")
    page.keyboard.type("Chloé")
    page.keyboard.press("Tab")
    page.keyboard.type("Tremblay")
    page.keyboard.press("Tab")
    page.keyboard.type("chloe@gmial.con")
    page.keyboard.press("Tab")

    # A hint, announced, and its button is the next stop: Enter takes the suggestion.
    hint = page.locator("#email-hint")
    expect(hint).to_have_attribute("aria-live", "polite")
    expect(hint).to_contain_text("Did you mean chloe@gmail.com?")
    fix = page.get_by_role("button", name="Use chloe@gmail.com")
    expect(fix).to_be_focused()
    page.keyboard.press("Enter")
    email = page.get_by_label("Email", exact=True)
    expect(email).to_have_value("chloe@gmail.com")
    expect(email).to_be_focused()
    expect(fix).to_have_count(0)

    # The country changes the postal code's label; Canada's rule applies.
    tab_to(page, "country")
    page.keyboard.type("Canada")
    expect(page.get_by_label("Postal code", exact=True)).to_be_visible()
    expect(page.get_by_label("ZIP code", exact=True)).to_have_count(0)
    page.keyboard.press("Tab")
    page.keyboard.type("k1a0b1")
    tab_to(page, "consent")
    page.keyboard.press("Space")
    tab_to(page, "sms_opt_in")
    page.keyboard.press("Space")  # "Text me" with no phone number
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    message = "Enter a mobile number to get texts, or uncheck “Text me about my request”."
    expect(summary.get_by_role("link", name=f"Phone: {message}")).to_be_visible()
    expect(page.locator("#phone-error")).to_contain_text(message)
    expect(page.get_by_label("Postal code", exact=True)).to_have_value("k1a0b1")  # server label
    expect(page.get_by_label("Email", exact=True)).to_have_value("chloe@gmail.com")
    assert_no_horizontal_scroll(page)
    assert count(db, Submission) == 0

    page.keyboard.press("Tab")  # the summary's only link, to the phone field
    page.keyboard.press("Enter")
    expect(page.get_by_label("Phone", exact=True)).to_be_focused()
    page.keyboard.type("(416) 555-0123")
    tab_to(page, "sms_opt_in")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    expect_thanks(page, "Master of Health Informatics")
    submission = db.scalars(select(Submission)).one()
    assert (submission.email, submission.country, submission.postal_code) == (
        "chloe@gmail.com",
        "CA",
        "k1a0b1",  # as typed; the person's record holds it normalized
    )
    assert submission.sms_opt_in_text == SMS_OPT_IN_TEXT
    assert db.scalars(select(Prospect)).one().postal_code == "K1A 0B1"


def test_the_email_hint_in_the_browser_matches_the_core(open_page, db):
    page = open_page("/request-info", DESKTOP)
    email = page.get_by_label("Email", exact=True)
    hint = page.locator("#email-hint")
    typed = [
        "maria@gmial.con",
        "Maria.Lopez@yaho.com",
        "maria@hotmial.com",
        "maria@gmail.co",
        "maria@outlok.com",
        "maria@GMAIL.CMO",
        "maria@riverbend.con",
        "maria@hotmail.cm",
        "maria@gmail.com",
        "maria@ivytech.edu",
        "maria@yahoo.ca",
        "maria@hotmail.co.uk",
        "maria@qq.com",
        "maria@att.com",
        "maria@",
    ]
    for address in typed:
        email.fill(address)
        email.press("Tab")
        expected = suggest_email(address)
        if expected:
            expect(hint).to_have_text(re.compile(rf"Did you mean {re.escape(expected)}\?"))
            expect(email).to_have_attribute("aria-describedby", re.compile(r"\bemail-hint\b"))
        else:
            expect(hint).to_have_text("")
            expect(email).not_to_have_attribute("aria-describedby", re.compile("email-hint"))
        email.focus()


def test_without_javascript_the_server_follows_the_country_and_hints(open_page, consent_text, db):
    page = open_page(f"/request-info?program={PROGRAM}", PHONE, javascript=False)
    fill_valid(page, consent_text)
    page.get_by_label("Email", exact=True).fill("maria@yaho.com")
    page.get_by_label("Phone", exact=True).fill("")
    page.get_by_label("Country", exact=True).select_option(label="Canada")
    expect(page.get_by_label("ZIP code", exact=True)).to_be_visible()  # no script to switch it
    page.get_by_label("ZIP code", exact=True).fill("46204")
    submit_button(page).click()

    postal = page.get_by_label("Postal code", exact=True)
    expect(postal).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#postal_code-error")).to_contain_text("Enter a Canadian postal code")
    expect(page.locator("#email-hint")).to_contain_text("Did you mean maria@yahoo.com?")
    # Its button needs the script: without it there is only the hint, nothing that does nothing.
    expect(page.locator(".email-hint-fix")).to_be_hidden()
    expect(page.get_by_label("Email", exact=True)).to_have_value("maria@yaho.com")
    assert_no_horizontal_scroll(page)

    postal.fill("M5V 2T6")
    submit_button(page).click()
    expect_thanks(page, "Medical Billing and Coding Certificate")
    assert db.scalars(select(Prospect)).one().email == "maria@yaho.com"  # as typed
