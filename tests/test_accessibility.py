"""Accessibility: axe-core finds no serious or critical problem on any page, wide or narrow.

axe-core (the engine behind browser accessibility checkers, bundled by axe-playwright-python,
so nothing is fetched at run time) checks each page in headless Chromium: colour contrast,
labels, landmarks, link and button names, ARIA. Every public page and the main staff pages
are visited in sequence in one browser context per width, in the states a person meets:
the form blank and with errors, the thanks page after a real request, an error page, and the
staff workspace filled with demo data (leads late and overdue, closed statuses, held spam).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from factories import PROGRAM
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from leadform.cli.demo import load_demo
from leadform.context import settings
from leadform.models import Lead

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
BLOCKING = ("serious", "critical")  # axe's impacts that fail the test; moderate/minor do not
WIDTHS = [pytest.param(1280, id="1280px"), pytest.param(360, id="360px")]
CLOSED = ("not_interested", "unreachable", "invalid")  # their status chip is the greyest text

AXE = Axe()


def axe_problems(page: Page, name: str) -> list[str]:
    """axe's serious and critical violations on the page as it is now, one readable line each."""
    found = AXE.run(page).response["violations"]
    problems = []
    for violation in found:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            problems.append(
                f"{name} @ {page.viewport_size['width']}px: {violation['id']} "
                f"({violation['impact']}) {' '.join(node['target'])}: {summary}"
            )
    return problems


@pytest.fixture
def workspace(db: Any, make_staff: Any) -> dict[str, Any]:
    """Demo data (as `make demo` loads it, small) and a manager to sign in as."""
    load_demo(db, settings(), leads=24, seed=8)
    db.commit()
    manager = make_staff("manager", name="Morgan Manager", email="morgan@staff.example.com")
    closed = db.scalars(select(Lead).where(Lead.status.in_(CLOSED)).order_by(Lead.id)).first()
    assert closed is not None, "the demo data has no closed lead to look at"
    info = {"manager": manager.email, "lead_id": closed.id}
    db.rollback()  # on SQLite an open read would hold the live server's writes back
    return info


@pytest.mark.parametrize("width", WIDTHS)
def test_no_serious_accessibility_problems_on_any_page(
    browser: Browser, live_server: str, workspace: dict[str, Any], width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def visit(path: str, name: str, *, status: int = 200) -> None:
        response = page.goto(live_server + path)
        assert response is not None
        assert response.status == status, f"{path} answered {response.status}"
        problems.extend(axe_problems(page, name))

    try:
        # The public pages.
        visit("/", "program directory")
        visit(f"/programs/{PROGRAM}", "program page")
        visit("/request-info", "request form")
        page.get_by_role("button", name="Request information", exact=True).click()
        expect(page.locator("#error-summary")).to_be_visible()
        problems.extend(axe_problems(page, "request form with errors"))
        page.get_by_label("Program of interest", exact=True).select_option(value=PROGRAM)
        page.get_by_label("First name", exact=True).fill("Maria")
        page.get_by_label("Last name", exact=True).fill("Lopez")
        page.get_by_label("Email", exact=True).fill("maria.lopez@example.com")
        page.locator("#consent").check()
        page.get_by_role("button", name="Request information", exact=True).click()
        expect(page).to_have_url(re.compile(r"/request-info/thanks$"))
        problems.extend(axe_problems(page, "thanks page"))
        visit("/no-such-page", "error page (404)", status=404)

        # The staff workspace, as a manager (who also sees bulk actions, export and spam).
        visit("/staff/login", "sign-in")
        page.get_by_label("Email").fill(workspace["manager"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/staff/?$"))
        # The hardest backgrounds for grey text: a late lead's red tint, closed statuses.
        expect(page.locator("tr.lead-late").first).to_be_attached()
        problems.extend(axe_problems(page, "queue"))
        visit(f"/staff/leads/{workspace['lead_id']}", "lead page (closed status)")
        visit("/staff/spam", "spam review")
        expect(page.get_by_role("button", name=re.compile("^Release")).first).to_be_visible()
    finally:
        context.close()

    assert not problems, f"{len(problems)} serious/critical axe violations:\n" + "\n".join(problems)
