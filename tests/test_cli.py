"""`flask programs load`: idempotent, updates in place, versions consent, refuses bad files."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from leadform.core.programs import read_catalog
from leadform.models import ConsentText, Program

CONSENT = "You may contact me about programs by email and phone."


def catalog(**changes) -> dict:
    """A small catalog of two programs; keyword arguments replace top-level keys."""
    data = {
        "consent_text": CONSENT,
        "programs": [
            {"slug": "cli-alpha", "name": "Alpha Certificate", "level": "certificate"},
            {
                "slug": "cli-beta",
                "name": "Beta Bachelor",
                "level": "bachelor",
                "summary": "Four years of beta.",
                "sort_order": 5,
            },
        ],
    }
    data.update(changes)
    return data


@pytest.fixture
def load(app, tmp_path):
    """Run `flask programs load FILE` with the given catalog (a dict, or raw text/bytes)."""
    runner = app.test_cli_runner()

    def run(content=None):
        if content is None:
            return runner.invoke(args=["programs", "load"])
        path = tmp_path / "catalog.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return runner.invoke(args=["programs", "load", str(path)])

    return run


def snapshot(db) -> tuple:
    """Everything a catalog load can change."""
    db.expire_all()
    programs = tuple(
        (p.slug, p.name, p.level, p.summary, p.active, p.sort_order)
        for p in db.scalars(select(Program).order_by(Program.slug))
    )
    consents = tuple(
        (c.version, c.sha256, c.active)
        for c in db.scalars(select(ConsentText).order_by(ConsentText.version))
    )
    return programs, consents


def test_loading_twice_changes_nothing_the_second_time(load, db):
    first = load(catalog())
    assert first.exit_code == 0, first.output
    assert "programs: 2 created, 0 updated" in first.output
    assert "consent text: version 2 (new version)" in first.output
    before = snapshot(db)

    second = load(catalog())
    assert second.exit_code == 0, second.output
    assert "programs: 0 created, 0 updated" in second.output
    assert "consent text: version 2 (unchanged)" in second.output
    assert snapshot(db) == before


def test_bundled_catalog_loads_idempotently(load, db):
    # The app fixture has loaded it already: loading again creates nothing.
    result = load()
    assert result.exit_code == 0, result.output
    count = len(read_catalog()["programs"])
    assert f"programs: 0 created, 0 updated, {count} unchanged" in result.output


def test_changed_file_updates_the_program_in_place(load, db, client):
    load(catalog())
    changed = catalog()
    changed["programs"][1].update(name="Beta Bachelor of Science", summary="Now online.")
    changed["programs"][0]["active"] = False
    result = load(changed)
    assert result.exit_code == 0, result.output
    assert "programs: 0 created, 2 updated" in result.output
    db.expire_all()
    beta = db.scalars(select(Program).where(Program.slug == "cli-beta")).one()
    assert (beta.name, beta.summary) == ("Beta Bachelor of Science", "Now online.")
    directory = client.get("/").get_data(as_text=True)
    assert "Beta Bachelor of Science" in directory
    assert "Alpha Certificate" not in directory  # deactivated
    assert client.get("/programs/cli-alpha").status_code == 404


def test_changed_consent_text_makes_a_new_active_version(load, db, client):
    load(catalog())
    result = load(catalog(consent_text="New wording: you may text me too."))
    assert result.exit_code == 0, result.output
    assert "consent text: version 3 (new version)" in result.output
    db.expire_all()
    versions = [(c.version, c.active) for c in db.scalars(select(ConsentText))]
    assert sorted(versions) == [(1, False), (2, False), (3, True)]
    assert "New wording: you may text me too." in client.get("/request-info").get_data(as_text=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        ("[]", 'expected an object with a "programs" list'),
        ('{"programs": {}}', 'expected an object with a "programs" list'),
        ({"programs": ["cli-alpha"]}, "every program needs a slug and a name"),
        ({"programs": [{"name": "No Slug"}]}, "every program needs a slug and a name"),
        ({"programs": [{"slug": "no-name"}]}, "every program needs a slug and a name"),
        ({"programs": [{"slug": "x", "name": "X", "level": "phd"}]}, "level must be one of"),
        ({"programs": [{"slug": "x", "name": 42}]}, "name"),
        ({"programs": [{"slug": "x", "name": "X", "sort_order": "first"}]}, "sort_order"),
        ({"programs": [{"slug": "x", "name": "X", "active": "no"}]}, "active"),
        ({"programs": [{"slug": "x", "name": "X", "summary": ["a"]}]}, "summary"),
        ({"programs": [{"slug": "Not A Slug!", "name": "X"}]}, "slug"),
        ({"programs": [{"slug": "x" * 81, "name": "X"}]}, "slug"),
        ({"programs": [{"slug": "x", "name": "X" * 201}]}, "name"),
        (
            {"programs": [{"slug": "x", "name": "X"}, {"slug": "x", "name": "Y"}]},
            "more than once",
        ),
        ({"programs": [], "consent_text": 7}, "consent_text"),
        ({"programs": [], "consent_text": "   "}, "consent_text"),
    ],
)
def test_bad_file_is_a_clean_error_and_changes_nothing(load, db, content, message):
    load(catalog())
    before = snapshot(db)
    if isinstance(content, dict):
        # A bad entry after a good, changed one: nothing of the file may be applied.
        good = {"slug": "cli-alpha", "name": "Alpha Renamed", "level": "certificate"}
        content = {**content, "programs": [good, *content["programs"]]}
    result = load(content)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Error:" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(db) == before


def test_missing_file_is_a_clean_error(app):
    result = app.test_cli_runner().invoke(args=["programs", "load", "/no/such/catalog.json"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
