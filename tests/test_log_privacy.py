"""Personal data stays out of logs and cookies: access logs, database errors, the session.

Staff search with GET query strings (a view can be bookmarked), so the production access
log format leaves query strings and referrers out; a failed statement's error names no bound
value; and the session cookie, which is signed but readable by whoever holds it, carries no
prospect's name, email or phone number after any staff action.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from factories import valid_form
from gunicorn.config import Config
from gunicorn.glogging import Logger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadform.models import OutboxMessage, StaffUser, Submission

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "operations.md"]

# --- the access log ---------------------------------------------------------------------


def _gunicorn_commands(path: Path) -> list[list[str]]:
    """Every `gunicorn ...` command in a document's shell blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(), re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("gunicorn "):
                commands.append(shlex.split(line))
    return commands


def _option(command: list[str], name: str) -> str | None:
    for index, word in enumerate(command):
        if word == name:
            return command[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _access_line(log_format: str) -> str:
    """The access-log line gunicorn writes with this format for a staff search."""
    config = Config()
    config.set("access_log_format", log_format)
    logger = Logger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/staff/?q=maria.lopez%40example.com&source=x",
        "PATH_INFO": "/staff/",
        "QUERY_STRING": "q=maria.lopez%40example.com&source=x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_REFERER": "https://leads.example/staff/?q=3175550199",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    response = SimpleNamespace(status="200 OK", sent=1234, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = logger.atoms_wrapper_class(
        logger.atoms(response, request, environ, dt.timedelta(milliseconds=12))
    )
    return str(log_format % atoms)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_documented_gunicorn_command_logs_paths_without_query_strings(doc):
    commands = [c for c in _gunicorn_commands(doc) if "--access-logfile" in c]
    assert commands, f"{doc.name} shows no gunicorn command with an access log"
    for command in commands:
        log_format = _option(command, "--access-logformat")
        assert log_format, f"{doc.name}: {shlex.join(command)} keeps gunicorn's default format"
        line = _access_line(log_format)
        assert '"GET /staff/ HTTP/1.1" 200 1234' in line
        assert "maria" not in line  # the search (query string) is not in the log
        assert "5550199" not in line  # nor the referring page's search


# --- database errors ----------------------------------------------------------------------


def test_a_database_error_names_no_value(db, make_staff):
    make_staff("counselor", email="dana.privacy@example.com")
    duplicate = StaffUser(
        email="dana.privacy@example.com", name="Someone", role="counselor", password_hash="x"
    )
    db.add(duplicate)
    with pytest.raises(IntegrityError) as caught:
        db.flush()
    db.rollback()
    # What reaches a log: the message and the whole traceback, chained driver error included.
    logged = str(caught.value) + "".join(traceback.format_exception(caught.value))
    assert "staff_users" in logged  # still says what failed
    assert "dana.privacy" not in logged


# --- the session cookie -------------------------------------------------------------------

PERSON = {
    "first_name": "Zofia",
    "last_name": "Wiśniewska",
    "email": "zofia.w@example.com",
    "phone": "(317) 555-0147",
}
#: Text that would give the prospect away, looked for case-insensitively in the cookie.
TRACES = ["zofia", "wiśniewska", "wisniewska", "5550147"]


def _session(app: Any, client: Any) -> dict[str, Any]:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return {}
    data: dict[str, Any] = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return data


def _hold(submit: Any, db: Any, **overrides: Any) -> Submission:
    """A request from the person that the quarantine keeps (the honeypot filled in)."""
    form = valid_form(website="https://autofill.example", **{**PERSON, **overrides})
    assert submit(form).status_code == 303
    held = db.scalars(select(Submission).order_by(Submission.id.desc())).first()
    assert held.spam_verdict == "quarantined"
    return held


def _form_for(endpoint: str, ids: dict[str, Any]) -> dict[str, Any]:
    """Valid input for each staff POST, so the action happens and says so in a flash."""
    tomorrow = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    return {
        "staff.lead_status": {"status": "contacted"},
        "staff.lead_assign": {"owner": str(ids["admin"])},
        "staff.lead_note": {"body": "Called Zofia Wiśniewska back."},
        "staff.lead_contact": {"channel": "call", "outcome": "reached", "note": "Zofia"},
        "staff.lead_follow_up": {"date": tomorrow, "time": "10:00"},
        "staff.bulk_action": {"action": "status", "status": "new", "lead_ids": str(ids["lead"])},
        "staff.spam_dismiss_page": {"ids": str(ids["submission"])},
    }.get(endpoint, {})


def test_the_session_cookie_carries_no_prospect_after_any_staff_action(
    app, db, client, submit, login_as, make_lead
):
    lead = make_lead(**{k: v for k, v in PERSON.items() if k != "phone"}, phone=PERSON["phone"])
    admin = login_as("admin")
    # The ways a flash names a request: released as a lead, refused, dismissed.
    release_ok = _hold(submit, db)
    release_refused = _hold(submit, db, first_name="Zofia http://spam.example")
    dismissed = _hold(submit, db)
    leftovers = _hold(submit, db)
    ids = {"admin": admin.id, "lead": lead.id, "submission": leftovers.id}
    message_id = db.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).first()

    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/staff/?q={PERSON['email']}", {}),
        ("GET", f"/staff/?q={PERSON['phone']}", {}),
        ("GET", f"/staff/leads/export.csv?q={PERSON['last_name']}", {}),
        ("POST", f"/staff/spam/{release_ok.id}/release", {}),
        ("POST", f"/staff/spam/{release_refused.id}/release", {}),
        ("POST", f"/staff/spam/{release_ok.id}/release", {}),  # decided already
        ("POST", f"/staff/spam/{dismissed.id}/dismiss", {}),
    ]
    # Then every staff page and action the app has (a new one is walked too), logout last.
    for rule in sorted(
        app.url_map.iter_rules(), key=lambda r: (r.endpoint == "staff.logout", r.rule)
    ):
        if not rule.rule.startswith("/staff") or rule.endpoint in ("staff.static", "staff.login"):
            continue
        path = re.sub(r"<int(\([^)]*\))?:lead_id>", str(lead.id), rule.rule)
        path = re.sub(r"<int(\([^)]*\))?:submission_id>", str(leftovers.id), path)
        # An outbox message about the lead (its confirmation): the delivery page's retry.
        path = re.sub(r"<int(\([^)]*\))?:message_id>", str(message_id), path)
        assert "<" not in path, f"fill in {rule.rule} here"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            steps.append((method, path, _form_for(rule.endpoint, ids)))

    seen = []
    for method, url, data in steps:
        response = client.open(url, method=method, data=data or None)
        response.get_data()  # run a streamed export to its end
        assert response.status_code < 500, (method, url)
        session = _session(app, client)
        seen.append(session.get("_flashes", []))
        text = json.dumps(session, ensure_ascii=False).casefold()
        found = [trace for trace in TRACES if trace in text]
        assert not found, f"{method} {url} left {found} in the session cookie: {session}"
        if response.status_code in (302, 303):  # show the page, as a browser would
            client.get(response.headers["Location"]).get_data()

    flashes = [message for batch in seen for _, message in batch]
    assert any(m.startswith(f"Request #{release_ok.id} released.") for m in flashes)
    assert any(m.startswith(f"Request #{release_refused.id} not released.") for m in flashes)
