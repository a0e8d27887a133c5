"""The CSV export at /staff/leads/export.csv: streamed, formula-safe, filtered, audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from leadform.core.leads import export
from leadform.db import utcnow
from leadform.models import AuditEvent

DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")
FORMULA = ("=", "+", "-", "@")
STAFF_TZ = ZoneInfo("America/Indiana/Indianapolis")  # the default STAFF_TIMEZONE


def read_csv(response) -> list[list[str]]:
    """The rows of a CSV response, read the way a spreadsheet import would (UTF-8, BOM)."""
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))


def formula_fragments(raw: str) -> list[str]:
    """Cells that would start a formula when a spreadsheet splits the file on `,`, `;`, a
    tab or a line break, ignoring the quotes (as a naive or a mismatched import does), once
    it trims spaces and quotes."""
    found = []
    for separator in (",", ";", "\t", "\r", "\n"):
        for fragment in raw.split(separator):
            if fragment.lstrip(' \t\r\n"').startswith(FORMULA):
                found.append(fragment)
    return found


def test_neutralized_cells_round_trip_through_csv():
    rng = random.Random(20261127)
    alphabet = list("abcXYZ019 ,;\"'|!()%$") + list(DANGEROUS) + ["é", "你", "\u202e"]
    originals = []
    for _ in range(3000):
        length = rng.randint(0, 12)
        # Half start with a formula character, so both branches get thousands of cases.
        start = rng.choice(DANGEROUS) if rng.random() < 0.5 else ""
        originals.append(start + "".join(rng.choice(alphabet) for _ in range(length)))
    rows = [originals[i : i + 6] for i in range(0, len(originals), 6)]
    raw = export.csv_lines(rows)
    read = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(read) == len(rows)
    # Safe under every separator a spreadsheet may split on, not only the one written.
    assert formula_fragments(raw) == []
    for original, cell in zip(originals, (c for row in read for c in row), strict=True):
        assert not cell.lstrip(' \t\r\n"').startswith(FORMULA)
        # Nothing is lost: only apostrophes are added, and only where a formula could start.
        assert cell.replace("'", "") == original.replace("'", "")
        if original.startswith(DANGEROUS):
            assert cell.startswith("'")
        elif not re.search(r'[\s",;"]', original):
            assert cell == original


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cpc;+1+1", "cpc;'+1+1"),  # split on ";", "+1+1" would be a formula
        ("a,=cmd", "a,'=cmd"),
        ('a; "=cmd', "a;' \"=cmd"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        (" =1+1", "' =1+1"),  # an import that trims spaces would see "=1+1"
        ("well-known, trusted", "well-known, trusted"),
        ("a;b,c", "a;b,c"),
    ],
)
def test_a_formula_cannot_start_after_any_separator(value, expected):
    assert export.neutralize(value) == expected
    assert formula_fragments(export.csv_lines([["x", value, "y"]])) == []


@pytest.fixture
def manager_client(client, login_as):
    login_as("manager")
    return client


def test_export_is_streamed_with_a_server_filename_and_every_column(manager_client, make_lead, db):
    made = make_lead(
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        phone="+13175550123",
        postal_code="46204",
        country="US",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="fall",
        start_term="undecided",
        education_level="some_college",
        military="veteran",
        comments="Evenings only, please.",
        sms_opt_in=True,
    )
    owner = make_staff_named(db, "Dana Whitfield")
    made.owner_id = owner.id
    made.first_contacted_at = dt.datetime(2026, 7, 1, 18, 30, tzinfo=dt.UTC)
    db.commit()
    response = manager_client.get("/staff/leads/export.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="leads-{utcnow():%Y-%m-%d}.csv"'
    )
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel on Windows reads accents
    header, row = read_csv(response)
    assert header == list(export.HEADER)
    record = dict(zip(header, row, strict=True))
    assert record["lead_id"] == str(made.id)
    assert record["status"] == "new"
    assert record["program"] == made.program.name
    assert record["owner"] == "Dana Whitfield"
    assert (record["first_name"], record["last_name"]) == ("Ann", "Lee")
    assert record["email"] == "ann@example.com"
    assert record["phone"] == "+13175550123"  # validated E.164, as a dialer takes it
    assert (record["postal_code"], record["country"]) == ("46204", "US")
    assert (record["sms_opt_in"], record["consent_version"]) == ("yes", "1")
    assert (record["start_term"], record["education_level"], record["military"]) == (
        "Not sure yet",
        "Some college, no degree",
        "Veteran",
    )
    assert record["comments"] == "Evenings only, please."
    assert (record["utm_source"], record["utm_medium"], record["utm_campaign"]) == (
        "google",
        "cpc",
        "fall",
    )
    assert record["submissions"] == "1"
    # Staff time, ISO 8601 with its offset: 2:30 PM in Indianapolis.
    assert record["first_contacted_at"] == "2026-07-01T14:30:00-04:00"
    assert record["first_received_at"] == staff_iso(made.created_at)
    assert record["last_received_at"] == staff_iso(made.last_submitted_at)
    assert record["next_follow_up_at"] == ""
    # Every cell quoted, numbers too.
    for line in body.decode("utf-8-sig").splitlines():
        assert re.fullmatch(r'"[^"]*"(,"[^"]*")*', line), line


def staff_iso(value: dt.datetime) -> str:
    return value.astimezone(STAFF_TZ).isoformat(timespec="seconds")


def make_staff_named(db, name: str):
    from leadform.core.accounts import users

    return users.create_user(
        db,
        "dana@staff.example.com",
        name,
        "counselor",
        "a long password",
        argon2_profile="CHEAPEST",
    )


def test_hostile_values_are_neutralized_in_the_download(manager_client, make_lead):
    make_lead(
        email="x@example.com",
        first_name='=HYPERLINK("http://evil.example","x")',
        last_name="-2+3",
        utm_source="@SUM(A1)",
        utm_medium="cpc;+1+1",
        utm_campaign="\tcmd",
        comments="a,=cmd",
    )
    response = manager_client.get("/staff/leads/export.csv")
    header, row = read_csv(response)
    record = dict(zip(header, row, strict=True))
    assert record["first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert record["last_name"] == "'-2+3"
    assert record["utm_source"] == "'@SUM(A1)"
    assert record["utm_medium"] == "cpc;'+1+1"
    assert record["comments"] == "a,'=cmd"
    # Split on ";" or "," as written or not, no cell starts a formula. The phone is the one
    # cell that starts with "+", on purpose: it is a validated E.164 number.
    assert formula_fragments(response.get_data().decode("utf-8-sig")) == []


def test_accents_survive_the_download(manager_client, make_lead):
    make_lead(email="maria@example.com", first_name="María", last_name="O'Neil-Gómez")
    response = manager_client.get("/staff/leads/export.csv")
    body = response.get_data()
    assert "Gómez".encode() in body
    header, row = read_csv(response)
    assert dict(zip(header, row, strict=True))["last_name"] == "O'Neil-Gómez"


def test_the_request_columns_come_from_the_latest_request(manager_client, make_lead, db):
    first = make_lead(email="back@example.com", comments="First question", start_term="undecided")
    make_lead(email="back@example.com", comments="Second question", military="active_duty")
    header, row = read_csv(manager_client.get("/staff/leads/export.csv"))
    record = dict(zip(header, row, strict=True))
    assert record["lead_id"] == str(first.id)
    assert record["comments"] == "Second question"
    assert (record["start_term"], record["military"]) == ("", "Active duty")
    assert record["submissions"] == "2"


def test_the_export_reads_a_batch_at_a_time_not_a_row_at_a_time(
    app, manager_client, make_lead, monkeypatch
):
    from sqlalchemy import event

    from leadform.context import get_engine

    monkeypatch.setattr(export, "BATCH_SIZE", 100)
    with app.app_context():
        engine = get_engine()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def export_statements() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert manager_client.get("/staff/leads/export.csv").get_data()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    for i in range(3):
        make_lead(email=f"few{i}@example.com", comments=f"Q{i}")
    few = export_statements()
    for i in range(12):
        make_lead(email=f"many{i}@example.com", comments=f"Q{i}")
    assert export_statements() == few  # 15 leads cost what 3 do: one batch


def test_export_applies_the_queue_filters(manager_client, make_lead, make_staff):
    counselor = make_staff("counselor")
    make_lead(email="a@example.com", first_name="A", status="qualified", owner=counselor)
    make_lead(email="b@example.com", first_name="B", status="qualified")
    make_lead(email="c@example.com", first_name="C")
    rows = read_csv(
        manager_client.get(
            "/staff/leads/export.csv", query_string={"status": "qualified", "owner": "none"}
        )
    )
    first_name = export.HEADER.index("first_name")
    assert [r[first_name] for r in rows[1:]] == ["B"]
    rows = read_csv(manager_client.get("/staff/leads/export.csv", query_string={"q": "c@"}))
    assert [r[first_name] for r in rows[1:]] == ["C"]


def test_export_walks_many_batches_once_each(manager_client, make_lead, monkeypatch):
    monkeypatch.setattr(export, "BATCH_SIZE", 4)
    made = [make_lead(email=f"p{i}@example.com", first_name=f"P{i}").id for i in range(11)]
    rows = read_csv(manager_client.get("/staff/leads/export.csv", query_string={"sort": "oldest"}))
    assert [int(r[0]) for r in rows[1:]] == made


def test_export_is_audited_with_filters_and_row_count(manager_client, make_lead, db):
    make_lead(email="a@example.com", status="qualified")
    make_lead(email="b@example.com", status="qualified")
    make_lead(email="c@example.com")
    response = manager_client.get("/staff/leads/export.csv", query_string={"status": "qualified"})
    # On record (committed) before a byte of the file is read.
    db.expire_all()
    started = db.scalars(select(AuditEvent).where(AuditEvent.action == "leads.exported")).one()
    assert started.data == {"filters": {"status": "qualified"}, "row_count": 2}
    assert started.actor_id is not None
    assert len(read_csv(response)) == 3
    db.expire_all()
    done = db.scalars(select(AuditEvent).where(AuditEvent.action == "leads.export_completed")).one()
    assert done.data == {"row_count": 2}
    assert done.actor_id == started.actor_id


def test_export_with_invalid_filters_exports_nothing(manager_client, make_lead, db):
    make_lead(email="private@example.com")
    response = manager_client.get(
        "/staff/leads/export.csv", query_string={"status": "enroled", "owner": "999"}
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Nothing was exported" in body
    assert "Status" in body
    assert "Owner" in body
    assert "private@example.com" not in body
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    db.expire_all()
    assert not db.scalars(select(AuditEvent).where(AuditEvent.action.like("leads.export%"))).all()


def test_export_with_an_implausible_date_is_refused(manager_client, make_lead):
    make_lead()
    response = manager_client.get("/staff/leads/export.csv?received_to=9999-12-31")
    assert response.status_code == 422
    assert "between 2000 and 2100" in response.get_data(as_text=True)


def test_export_audits_only_filter_parameters(manager_client, make_lead, db):
    make_lead(email="a@example.com", status="qualified")
    response = manager_client.get(
        "/staff/leads/export.csv", query_string={"status": "qualified", "evil": "1"}
    )
    assert len(read_csv(response)) == 2
    db.expire_all()
    started = db.scalars(select(AuditEvent).where(AuditEvent.action == "leads.exported")).one()
    assert started.data["filters"] == {"status": "qualified"}


def test_export_has_the_first_and_the_latest_request(manager_client, make_lead, db):
    first = make_lead(email="back@example.com")
    make_lead(email="back@example.com")  # the same person asks again
    db.expire_all()
    lead = db.get(type(first), first.id)
    lead.created_at = lead.created_at - dt.timedelta(days=30)
    db.commit()
    header, row = read_csv(manager_client.get("/staff/leads/export.csv"))
    record = dict(zip(header, row, strict=True))
    assert record["first_received_at"] == staff_iso(lead.created_at)
    assert record["last_received_at"] == staff_iso(lead.last_submitted_at)
    assert record["first_received_at"] < record["last_received_at"]
    assert record["submissions"] == "2"


def test_counselor_cannot_export(client, login_as, make_lead, db):
    login_as("counselor")
    make_lead()
    response = client.get("/staff/leads/export.csv")
    assert response.status_code == 403
    assert "lead" not in response.headers.get("Content-Disposition", "")
    actions = db.scalars(select(AuditEvent.action)).all()
    assert "access.denied" in actions
    assert "leads.exported" not in actions


def test_queue_offers_the_export_to_managers_only(client, login_as, make_staff):
    login_as("manager")
    page = client.get("/staff/", query_string={"status": "new"}).get_data(as_text=True)
    assert re.search(r'href="/staff/leads/export.csv\?status=new"', page)
