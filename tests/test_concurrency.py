"""Simultaneous submissions against a real server: no twins, nothing lost, no errors."""

from __future__ import annotations

import http.client
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from factories import count, hidden_fields, valid_form
from sqlalchemy import select

from leadform.models import Activity, Lead, OutboxMessage, Prospect, Submission

THANKS = "/request-info/thanks"


class Browser:
    """One visitor talking HTTP to the live server (a new connection per request)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, Any, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("Location"), response.read().decode()
        finally:
            conn.close()

    def form_fields(self) -> dict[str, str]:
        status, _, page = self.request("GET", "/request-info")
        assert status == 200
        return hidden_fields(page)


def post_together(base_url: str, payloads: list[dict[str, str]]) -> list[Any]:
    """POST each payload from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(payloads), timeout=60)
    results: list[Any] = [None] * len(payloads)

    def run(index: int) -> None:
        body = urlencode(payloads[index])
        try:
            barrier.wait()
            status, location, _ = Browser(base_url).request("POST", "/request-info", body)
            results[index] = (status, location)
        except Exception as exc:  # reported by the assertion below, with the others
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_twenty_simultaneous_submissions_make_one_prospect_and_one_lead(live_server, db):
    browser = Browser(live_server)
    # Each visitor loaded the form (its own token) and they all press the button at once.
    payloads = [{**browser.form_fields(), **valid_form()} for _ in range(20)]
    results = post_together(live_server, payloads)

    assert results == [(303, THANKS)] * 20
    assert count(db, Prospect) == 1
    assert count(db, Lead) == 1
    assert count(db, Submission) == 20
    lead = db.scalars(select(Lead)).one()
    assert lead.submission_count == 20
    kinds = sorted(a.kind for a in db.scalars(select(Activity)))
    assert kinds == ["resubmitted"] * 19 + ["submitted"]
    events = sorted(m.kind for m in db.scalars(select(OutboxMessage)))
    # One confirmation: at most one a day per person and program, however many requests.
    assert events == ["lead.created"] + ["lead.resubmitted"] * 19 + ["prospect.confirmation"]


def test_one_form_sent_from_ten_threads_is_stored_once(live_server, db):
    fields = Browser(live_server).form_fields()
    results = post_together(live_server, [{**fields, **valid_form()}] * 10)

    assert results == [(303, THANKS)] * 10
    assert count(db, Submission) == 1
    assert count(db, Lead) == 1
    assert db.scalars(select(Lead)).one().submission_count == 1
