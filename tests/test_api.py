"""The JSON API: POST /api/v1/leads through the same submit use case as the form, keys,
Idempotency-Key, CORS, the program list, the OpenAPI document and its page."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
from factories import PROGRAM, count, set_config, valid_form
from sqlalchemy import select

from leadform.core import apikeys, audit
from leadform.core.intake.store import get_active_consent
from leadform.models import (
    ApiIdempotencyRecord,
    ApiKey,
    AuditEvent,
    Lead,
    OutboxMessage,
    Submission,
)

ORIGIN = "https://landing.example.edu"


def lead_json(**overrides: Any) -> dict[str, Any]:
    """A valid API request body: the form's fields as JSON (booleans for the checkboxes) and
    the evidence a landing page forwards; overrides replace fields (None sends a JSON null)."""
    body: dict[str, Any] = {
        **valid_form(),
        "consent": True,
        "sms_opt_in": False,
        "utm_source": "google",
        "utm_campaign": "fall",
        "ip": "198.51.100.23",
        "user_agent": "Mozilla/5.0 (visitor)",
        "page_url": "https://landing.example.edu/billing",
        "referrer": "https://www.google.com/",
    }
    body.update(overrides)
    return body


@pytest.fixture
def api_key(db) -> str:
    """An active key allowing ORIGIN; returns the key text."""
    _key, presented = apikeys.create_key(db, "landing", [ORIGIN], audit.Actor(via="cli"))
    db.commit()
    return presented


@pytest.fixture
def post(client, api_key):
    """POST a JSON body (or raw data) to /api/v1/leads with the key."""

    def do(body: Any = None, *, key: str | None = None, headers: dict | None = None, **kw):
        sent = {"Authorization": f"Bearer {api_key if key is None else key}", **(headers or {})}
        if "data" in kw:
            return client.post("/api/v1/leads", headers=sent, **kw)
        return client.post(
            "/api/v1/leads", headers=sent, json=lead_json() if body is None else body, **kw
        )

    return do


# --------------------------------------------------------------------------- the happy path


def test_a_new_lead_is_201_with_a_public_id_and_stored_like_a_form_submission(post, db):
    response = post()
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "created"
    lead = db.scalars(select(Lead)).one()
    assert body["id"] == lead.public_id
    assert body["id"] != str(lead.id)
    assert len(body["id"]) >= 20
    submission = db.scalars(select(Submission)).one()
    key = db.scalars(select(ApiKey)).one()
    assert submission.channel == "api"
    assert submission.api_key_id == key.id
    assert submission.ip == "198.51.100.23"
    assert submission.user_agent == "Mozilla/5.0 (visitor)"
    assert submission.page_url == "https://landing.example.edu/billing"
    assert submission.referrer == "https://www.google.com/"
    assert submission.utm_source == "google"
    # The consent version active at the time of the call is the evidence.
    assert submission.consent_version == get_active_consent(db).version
    assert submission.spam_verdict == "ok"
    # The same event as the form writes: the team is told.
    assert count(db, OutboxMessage) >= 1
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_a_returning_person_is_merged_200_with_the_same_id(post, db):
    first = post().get_json()
    again = post(lead_json(first_name="Mary"))
    assert again.status_code == 200
    assert again.get_json() == {"id": first["id"], "status": "merged"}
    assert count(db, Lead) == 1
    assert count(db, Submission) == 2


def test_the_form_and_the_api_merge_into_one_lead(post, submit, db):
    assert submit().status_code == 303
    response = post()
    assert response.status_code == 200
    assert response.get_json()["id"] == db.scalars(select(Lead)).one().public_id


def test_the_consent_version_is_the_one_active_at_the_call(post, db):
    from leadform.core.programs import load_catalog, read_catalog

    data = read_catalog()
    data["consent_text"] = data["consent_text"] + " (revised)"
    load_catalog(db, data)
    db.commit()
    assert post().status_code == 201
    assert db.scalars(select(Submission)).one().consent_version == get_active_consent(db).version
    assert get_active_consent(db).version == 2


# --------------------------------------------------------------------------- invalid input


def test_invalid_fields_are_422_with_the_forms_messages_by_field(post, db):
    response = post(lead_json(email="not-an-email", consent=False, program="nope"))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"email", "consent", "program"}
    assert errors["consent"] == ["Check this box so we may contact you about the program."]
    assert count(db, Submission) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", 123),
        ("email", ["a@example.com"]),
        ("comments", {"a": 1}),
        ("consent", "yes"),
        ("consent", 1),
        ("sms_opt_in", "true"),
        ("ip", "not an ip"),
    ],
)
def test_wrong_json_types_are_422_for_that_field(post, field, value):
    response = post(lead_json(**{field: value}))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_null_is_taken_as_not_sent(post):
    response = post(lead_json(phone=None, comments=None, sms_opt_in=None, ip=None))
    assert response.status_code == 201


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"",
        b'{"first_name": NaN}',
        b"\xff\xfe",
        b'{"first_name": "\\ud800"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_malformed_json_is_400_never_5xx(post, data):
    response = post(data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "body" in response.get_json()["errors"]


@pytest.mark.parametrize("data", [b"[]", b"null", b"42", b'"text"', b"true"])
def test_a_body_that_is_not_an_object_is_422(post, data):
    response = post(data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "body" in response.get_json()["errors"]


def test_nul_and_huge_strings_are_422_not_5xx(post, db):
    response = post(lead_json(first_name="Ma\x00ria", comments="x" * 10_000))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"first_name", "comments"}
    # Evidence a caller forwards is cleaned, never refused.
    assert post(lead_json(user_agent="a\x00b" * 1000, page_url="p" * 5000)).status_code == 201
    assert db.scalars(select(Submission)).one().user_agent.startswith("abab")


def test_an_oversized_body_is_413(post, app):
    response = post(lead_json(comments="x" * 20_000))
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than 16384 bytes."}


def test_a_wrong_content_type_is_415(post):
    response = post(data="first_name=Maria", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    response = post(data="first_name=Maria", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "error" in response.get_json()


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic abc", "lf_xyz"])
def test_a_missing_or_wrong_key_is_401(client, api_key, header, db):
    headers = {} if header is None else {"Authorization": header}
    response = client.post("/api/v1/leads", json=lead_json(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.get_json()
    assert count(db, Submission) == 0


def test_a_revoked_key_is_401(post, db):
    apikeys.revoke_key(db, "landing", audit.Actor(via="cli"))
    db.commit()
    assert post().status_code == 401


def test_the_key_is_never_stored_in_clear(api_key, db, app):
    key = db.scalars(select(ApiKey)).one()
    assert key.key_hash == apikeys.hash_key(api_key) != api_key
    assert api_key not in key.key_hash
    assert api_key[:12] == key.prefix
    # Not anywhere in the database, the audit log included.
    dump = "\n".join(
        json.dumps([str(v) for v in row])
        for table in ("api_keys", "audit_events")
        for row in db.execute(select(*ApiKey.metadata.tables[table].c)).all()
    )
    assert api_key not in dump


def test_cli_create_prints_the_key_once_list_and_revoke_are_audited(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["apikeys", "create", "spring", "--origin", "HTTPS://Spring.Example.edu:443"]
    )
    assert result.exit_code == 0, result.output
    presented = result.output.strip().splitlines()[-1]
    assert presented.startswith("lf_")
    assert "https://spring.example.edu" in result.output

    listed = runner.invoke(args=["apikeys", "list"])
    assert "spring" in listed.output
    assert "active" in listed.output
    assert presented not in listed.output

    client = app.test_client()
    ok = client.post(
        "/api/v1/leads", json=lead_json(), headers={"Authorization": f"Bearer {presented}"}
    )
    assert ok.status_code == 201

    assert runner.invoke(args=["apikeys", "revoke", "spring"]).exit_code == 0
    assert "revoked" in runner.invoke(args=["apikeys", "list"]).output
    refused = client.post(
        "/api/v1/leads", json=lead_json(), headers={"Authorization": f"Bearer {presented}"}
    )
    assert refused.status_code == 401
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["api_key.created", "api_key.revoked"]

    again = runner.invoke(args=["apikeys", "create", "spring"])
    assert again.exit_code != 0
    assert "exists already" in again.output
    bad = runner.invoke(args=["apikeys", "create", "x", "--origin", "https://a.example/path"])
    assert bad.exit_code != 0
    assert "not an origin" in bad.output


# --------------------------------------------------------------------------- spam


def test_the_honeypot_and_a_url_in_a_name_quarantine_quietly(post, db):
    bot = post(lead_json(website="http://spam.example"))
    assert bot.status_code == 201
    assert bot.get_json()["status"] == "created"
    named = post(lead_json(email="b@example.com", first_name="Visit http://x.example"))
    assert named.status_code == 201
    assert count(db, Lead) == 0
    held = db.scalars(select(Submission)).all()
    assert {s.spam_verdict for s in held} == {"quarantined"}
    assert {s.channel for s in held} == {"api"}
    assert held[0].spam_reasons == "honeypot"
    assert held[1].spam_reasons == "url_in_name"


def test_the_time_trap_does_not_apply(post, app, db):
    set_config(app, MIN_FORM_SECONDS=3600)
    assert post().status_code == 201
    assert db.scalars(select(Submission)).one().spam_verdict == "ok"


# --------------------------------------------------------------------------- rate limits


def test_rate_limited_per_key_is_429_with_retry_after(app_config, api_key_app):
    client, key = api_key_app(API_RATE_LIMIT_KEY="2 per minute", API_RATE_LIMIT_IP="100/minute")
    headers = {"Authorization": f"Bearer {key}"}
    codes = [
        client.post(
            "/api/v1/leads", json=lead_json(email=f"p{i}@example.com"), headers=headers
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    response = client.post("/api/v1/leads", json=lead_json(), headers=headers)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.get_json() == {"error": "Too many requests"}


def test_rate_limited_per_ip_is_429(api_key_app):
    client, key = api_key_app(API_RATE_LIMIT_KEY="100 per minute", API_RATE_LIMIT_IP="1/minute")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/leads", json=lead_json(), headers=headers).status_code == 201
    response = client.post("/api/v1/leads", json=lead_json(), headers=headers)
    assert response.status_code == 429
    assert "Retry-After" in response.headers


@pytest.fixture
def api_key_app(app_config, request):
    """An app with rate limits on (built after the settings are chosen), and a key."""

    def build(**config):
        app_config.update(RATELIMIT_ENABLED=True, **config)
        app = request.getfixturevalue("app")
        from leadform.context import get_session

        with app.app_context():
            session = get_session()
            _k, presented = apikeys.create_key(session, "rl", [], audit.Actor(via="cli"))
            session.commit()
        return app.test_client(), presented

    return build


# --------------------------------------------------------------------------- idempotency


def test_a_replay_returns_the_stored_answer_and_stores_once(post, db):
    headers = {"Idempotency-Key": "order-1"}
    first = post(headers=headers)
    replay = post(headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert count(db, Submission) == 1
    # Another key is another request: merged into the lead.
    other = post(headers={"Idempotency-Key": "order-2"})
    assert other.status_code == 200
    assert count(db, Submission) == 2


def test_a_replayed_422_is_the_same_422(post, db):
    headers = {"Idempotency-Key": "bad-1"}
    body = lead_json(email="nope")
    first = post(body, headers=headers)
    assert first.status_code == 422
    again = post(body, headers=headers)
    assert again.status_code == 422
    assert again.get_json() == first.get_json()
    assert count(db, Submission) == 0


def test_the_same_key_with_another_body_is_422(post, db):
    assert post(headers={"Idempotency-Key": "k-1"}).status_code == 201
    response = post(lead_json(comments="changed"), headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert count(db, Submission) == 1


def test_key_order_and_spacing_do_not_change_the_fingerprint(post, client, api_key):
    body = lead_json()
    assert post(body, headers={"Idempotency-Key": "fp"}).status_code == 201
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    response = client.post(
        "/api/v1/leads",
        data=reordered,
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": "fp",
        },
    )
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_a_key_still_in_flight_is_409(post, db):
    key = db.scalars(select(ApiKey)).one()
    body = lead_json()
    from leadform.db import utcnow

    apikeys.claim(db, key.id, "busy", apikeys.fingerprint(body), now=utcnow(), timeout_seconds=60)
    db.commit()
    response = post(body, headers={"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert count(db, Submission) == 0


def test_an_abandoned_claim_is_taken_over_after_the_timeout(post, db, app):
    import datetime as dt

    from leadform.db import utcnow

    key = db.scalars(select(ApiKey)).one()
    body = lead_json()
    old = utcnow() - dt.timedelta(seconds=120)
    apikeys.claim(db, key.id, "dead", apikeys.fingerprint(body), now=old, timeout_seconds=60)
    db.commit()
    assert post(body, headers={"Idempotency-Key": "dead"}).status_code == 201


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there", "ключ"])
def test_a_bad_idempotency_key_is_422(post, value):
    response = post(headers={"Idempotency-Key": value})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]


def test_concurrent_requests_with_one_key_store_one_submission(live_server, api_key, db):
    """Ten threads send the same request with the same key at the same moment."""
    url = urlsplit(live_server)
    body = json.dumps(lead_json())
    barrier = threading.Barrier(10, timeout=60)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def run() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        barrier.wait()
        conn.request(
            "POST",
            "/api/v1/leads",
            body=body,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Idempotency-Key": "same-for-all",
            },
        )
        response = conn.getresponse()
        data = json.loads(response.read())
        with lock:
            results.append((response.status, data))
        conn.close()

    threads = [threading.Thread(target=run) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted(status for status, _ in results)
    assert len(results) == 10
    assert set(statuses) <= {201, 409}, results
    assert statuses.count(201) >= 1
    ids = {data["id"] for status, data in results if status == 201}
    assert len(ids) == 1
    db.expire_all()
    assert count(db, Submission) == 1
    assert count(db, ApiIdempotencyRecord) == 1


# --------------------------------------------------------------------------- CORS


def test_preflight_for_an_allowed_origin(client, api_key):
    response = client.options(
        "/api/v1/leads",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == {"authorization", "content-type", "idempotency-key"}
    assert "Origin" in response.headers["Vary"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_preflight_for_another_origin_is_not_allowed(client, api_key):
    response = client.options(
        "/api/v1/leads",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_post_from_an_allowed_origin_can_be_read(post, db):
    response = post(headers={"Origin": ORIGIN})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_post_from_an_origin_the_key_does_not_allow_is_refused(post, db):
    # Another key allows this origin: still not this key's.
    apikeys.create_key(db, "other", ["https://other.example"], audit.Actor(via="cli"))
    db.commit()
    response = post(headers={"Origin": "https://other.example"})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert count(db, Submission) == 0


# --------------------------------------------------------------------------- GET endpoints


def test_programs_are_public_and_cacheable(client, db):
    response = client.get("/api/v1/programs")
    assert response.status_code == 200
    programs = response.get_json()["programs"]
    assert any(p["slug"] == PROGRAM for p in programs)
    assert set(programs[0]) == {"slug", "name", "level", "summary"}
    assert "public" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = client.get("/api/v1/programs", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert "Set-Cookie" not in response.headers


def test_the_openapi_document_and_its_page(client):
    doc = client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    spec = doc.get_json()
    assert spec["openapi"].startswith("3.1")
    statuses = set(spec["paths"]["/leads"]["post"]["responses"])
    assert {"200", "201", "400", "401", "409", "413", "415", "422", "429"} <= statuses
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("POST /api/v1/leads", "GET /api/v1/programs", "Idempotency-Key", "first_name"):
        assert text in html
    assert "<script>" not in html


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/v1/nope", 404), ("GET", "/api/v1/leads", 405), ("PUT", "/api/v1/programs", 405)],
)
def test_api_errors_are_json(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json
    assert "error" in response.get_json()


def test_the_lead_page_shows_the_api_key_a_request_came_with(post, client, login_as, db):
    assert post().status_code == 201
    lead = db.scalars(select(Lead)).one()
    login_as("manager")
    html = client.get(f"/staff/leads/{lead.id}").get_data(as_text=True)
    assert "via API" in html
    assert "(API key <strong>landing</strong>)" in html
    assert "198.51.100.23" in html


def test_purge_forgets_old_idempotency_answers_only(post, app, db):
    import datetime as dt

    from sqlalchemy import update

    from leadform.db import utcnow

    assert post(headers={"Idempotency-Key": "old"}).status_code == 201
    assert (
        post(lead_json(email="b@example.com"), headers={"Idempotency-Key": "new"}).status_code
        == 201
    )
    db.execute(
        update(ApiIdempotencyRecord)
        .where(ApiIdempotencyRecord.idempotency_key == "old")
        .values(created_at=utcnow() - dt.timedelta(hours=25))
    )
    db.commit()
    result = app.test_cli_runner().invoke(args=["apikeys", "purge-idempotency"])
    assert result.exit_code == 0, result.output
    assert "forgot 1 " in result.output
    db.expire_all()
    keys = db.scalars(select(ApiIdempotencyRecord.idempotency_key)).all()
    assert keys == ["new"]
    # A retry of the forgotten one is a new request: merged into the person's lead.
    assert post(headers={"Idempotency-Key": "old"}).status_code == 200


def test_a_takeover_of_a_slow_not_dead_request_stores_nothing_twice(post, db):
    """The claim timed out but its request did store the submission: the retry gets 409."""
    import datetime as dt

    from sqlalchemy import update

    from leadform.db import utcnow

    assert post(headers={"Idempotency-Key": "slow"}).status_code == 201
    # As if the first request were still running, its claim older than the timeout.
    db.execute(
        update(ApiIdempotencyRecord).values(
            state="processing",
            response_status=None,
            response_body=None,
            updated_at=utcnow() - dt.timedelta(seconds=600),
        )
    )
    db.commit()
    response = post(headers={"Idempotency-Key": "slow"})
    assert response.status_code == 409
    assert count(db, Submission) == 1
