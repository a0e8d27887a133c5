"""Demo data: a few hundred realistic leads, stored through the real intake service.

For trying the staff workspace on a fresh install (`make demo`). Every address is on a
reserved example domain and every phone number is in the fictional 555-01XX range, so
nothing here can reach a real person. Services flush, never commit: the command commits.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ..core import audit
from ..core.accounts import users
from ..core.intake import store, submit
from ..core.intake.catalog import Catalog, ConsentInfo, read_catalog
from ..core.intake.inquiry import Evidence
from ..core.intake.validation import (
    EDUCATION_LEVELS,
    MILITARY_AFFILIATIONS,
    FieldError,
    clean_name,
    clean_phone,
    start_terms,
)
from ..core.settings import Settings
from ..db import utcnow
from ..models import Activity, Lead, Program, StaffUser
from ..vocab import (
    ASSIGNED,
    CLOSED_STATUSES,
    CONTACT_ATTEMPT,
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    FOLLOW_UP,
    NOTE,
    STATUS_CHANGED,
    STATUS_LABELS,
)

#: Who acts when the demo loader writes: nobody signed in.
DEMO = audit.Actor(via="demo")

#: (name, email, role) of the demo team; created once, never duplicated.
DEMO_STAFF: tuple[tuple[str, str, str], ...] = (
    ("Dana Whitfield", "dana.whitfield@demo.example.com", "counselor"),
    ("Marcus Oyelaran", "marcus.oyelaran@demo.example.com", "counselor"),
    ("Sofía Ramírez", "sofia.ramirez@demo.example.com", "counselor"),
    ("Priya Natarajan", "priya.natarajan@demo.example.com", "manager"),
)

FIRST_NAMES = (
    "María", "José", "Ana", "Luis", "Sofía", "Mateo", "Camila", "Diego", "Valentina", "Andrés",
    "Zoë", "Chloé", "Renée", "André", "François", "Anaïs", "Inés", "Raúl", "Begoña", "Joël",
    "Siobhán", "Seán", "Björn", "Søren", "Łucja", "Mónica", "Thảo", "Minh", "Nguyệt", "Đức",
    "Emily", "James", "Olivia", "Michael", "Ashley", "Christopher", "Jessica", "Brandon",
    "Tiffany", "Tyler", "Brittany", "Kevin", "Amanda", "Marcus", "Keisha", "DeShawn", "Aaliyah",
    "Jamal", "Imani", "Darnell", "Priya", "Arjun", "Wei", "Mei", "Hiroshi", "Yuki", "Fatima",
    "Omar", "Ngozi", "Chinedu", "Olumide", "Aisha", "Jo-Ann", "Mary Beth", "Kathleen", "Patrick",
)  # fmt: skip
LAST_NAMES = (
    "García", "Hernández", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
    "Ramírez", "Núñez", "Muñoz", "Peña", "Ibáñez", "Nguyen", "Trần", "Lê", "Phạm", "Kim",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Jackson", "Washington", "O'Brien", "O'Neil-Gómez", "McAllister",
    "Smith-Jones", "Müller", "Schröder", "Kowalski", "Wiśniewska", "Okafor", "Adeyemi",
    "Patel", "Shah", "Chen", "Wang", "Tanaka", "Sato", "Haddad", "Al-Sayed", "Dubois",
    "Lefèvre", "St. Clair", "D'Angelo", "Bergström", "Sørensen", "Van der Berg", "Ó Súilleabháin",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
#: Area codes around the college (Indiana, Illinois, Ohio, Kentucky, Michigan).
AREA_CODES = ("317", "463", "765", "812", "219", "260", "312", "773", "614", "513", "502", "313")
PHONE_FORMATS = (
    "({a}) 555-01{n:02d}",
    "{a}-555-01{n:02d}",
    "{a}.555.01{n:02d}",
    "{a}55501{n:02d}",
    "+1 {a} 555 01{n:02d}",
    "1-{a}-555-01{n:02d}",
)
US_ZIPS = (
    "46204", "46220", "46227", "46038", "46112", "47401", "46802", "47906", "60614", "60640",
    "60005", "43215", "45202", "40202", "48201", "46142", "46240-1234",
)  # fmt: skip
COMMENTS = (
    "Can I study part time while working full time?",
    "Is financial aid available? I'm a single mom and need to keep working.",
    "How long does the program take if I go at night?",
    "Do you accept transfer credits from Ivy Tech?",
    "I'm a veteran — can I use my GI Bill for this?",
    "What are the clinical hours like? Are they on weekends?",
    "Is this program fully online or do I need to come to campus?",
    "When is the next start date?",
    "Does my employer's tuition reimbursement work with you?",
    "I finished half of an associate degree years ago. Does it still count?",
    "Please call after 5pm, I work days.",
    "¿Tienen asesores que hablen español?",
    "What's the total cost including books?",
    "Is the certificate nationally accredited?\nI want to sit for the CPC exam.",
    "Can I start before I finish my GED?",
)
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-A156U) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/137.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36 Edg/138.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Safari/605.1.15",
)
SITE = "https://www.lakeside-college.example"
#: (weight, source, medium, campaigns, referrer)
TRAFFIC: tuple[tuple[int, str, str, tuple[str, ...], str], ...] = (
    (35, "google", "cpc", ("healthcare-certificates", "brand-search", "spring-enrollment"),
     "https://www.google.com/"),
    (20, "facebook", "social", ("career-change-lookalike", "retargeting-30d"),
     "https://l.facebook.com/"),
    (10, "newsletter", "email", ("monthly-newsletter", "open-house-invite"), ""),
    (35, "", "", ("",), ""),
)  # fmt: skip
SEARCH_TERMS = ("medical billing course", "online nursing degree", "healthcare admin degree")
#: The outcomes the demo history uses (not "wrong_number": the made-up people are reachable).
DEMO_OUTCOMES = {
    key: label
    for key, label in CONTACT_OUTCOMES
    if key in ("reached", "left_message", "no_answer", "sent")
}
#: Where a worked lead ends up, with weights; leads asking again are never left closed.
FINAL_STATUSES = (
    ("attempted", 24),
    ("contacted", 24),
    ("qualified", 14),
    ("applied", 8),
    ("enrolled", 4),
    ("not_interested", 12),
    ("unreachable", 10),
    ("invalid", 4),
)
STATUS_PATH = {
    "attempted": ("attempted",),
    "contacted": ("attempted", "contacted"),
    "qualified": ("contacted", "qualified"),
    "applied": ("contacted", "qualified", "applied"),
    "enrolled": ("contacted", "qualified", "applied", "enrolled"),
    "not_interested": ("contacted", "not_interested"),
    "unreachable": ("attempted", "unreachable"),
    "invalid": ("invalid",),
}
NOTES = (
    "Working full time; prefers evening classes.",
    "Asked about FAFSA. Sent the financial aid checklist.",
    "Wants to start next term. Sent the application link.",
    "Has 24 transfer credits; requested transcripts.",
    "Voicemail full.",
    "Comparing us with two other schools. Follow up after the info session.",
    "Spouse is active duty; sent MyCAA information.",
    "Not a good time; asked to call back next week.",
)


class DemoError(RuntimeError):
    """The demo data cannot be loaded (e.g. no programs yet)."""


@dataclass
class DemoResult:
    """What a demo load added."""

    people: int = 0
    leads_created: int = 0
    submissions: int = 0
    resubmissions: int = 0
    held: int = 0  # quarantined as suspected spam, for the spam review page
    staff_created: list[StaffUser] = field(default_factory=list)
    staff_password: str | None = None


@dataclass
class _Person:
    first_name: str
    last_name: str
    email: str
    phone: str
    postal_code: str | None
    country: str


#: Letters that do not decompose into a base letter and an accent.
_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss"})


def _ascii(text: str) -> str:
    """Letters for an email local part: accents dropped, other characters removed."""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    folded = folded.encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def ensure_demo_staff(
    session: Session, settings: Settings
) -> tuple[list[StaffUser], list[StaffUser], str | None]:
    """The demo team (all, created now, the password of those created now)."""
    team, created = [], []
    password = None
    for name, email, role in DEMO_STAFF:
        user = users.get_by_email(session, email)
        if user is None:
            password = password or users.generate_password()
            user = users.create_user(
                session, email, name, role, password, argon2_profile=settings.argon2_profile
            )
            audit.record(session, "user.created", DEMO, target_type="staff_user", target_id=user.id)
            created.append(user)
        team.append(user)
    return team, created, password


class _Generator:
    """Random but plausible people, traffic and histories, reproducible from a seed."""

    def __init__(self, rng: random.Random, now: dt.datetime) -> None:
        self.rng = rng
        self.now = now
        self.emails: set[str] = set()
        self.phones: list[str] = []
        self.numbers: set[tuple[str, int]] = set()

    def person(self) -> _Person:
        rng = self.rng
        first = clean_name(rng.choice(FIRST_NAMES), "First name")
        last = clean_name(rng.choice(LAST_NAMES), "Last name")
        email = ""
        while not email or email.casefold() in self.emails:
            number = rng.randrange(1, 10_000)
            local = rng.choice(
                (
                    f"{_ascii(first)}.{_ascii(last)}{number}",
                    f"{_ascii(first)[0]}{_ascii(last)}{number % 100}",
                    f"{_ascii(first)}{number}",
                    f"{_ascii(last)}.{_ascii(first)}{number % 1000}",
                )
            )
            email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
            if rng.random() < 0.1:
                email = email.capitalize()  # some people type it that way
        self.emails.add(email.casefold())
        if rng.random() < 0.03:
            # A few people write in from Canada, without a US phone.
            return _Person(first, last, email, "", rng.choice(("M5V 2T6", "N2L 3G1")), "CA")
        phone = ""
        if self.phones and rng.random() < 0.03:
            phone = rng.choice(self.phones)  # same phone, other email: a possible duplicate
        elif rng.random() < 0.85:
            phone = self._new_phone()
        if phone:
            self.phones.append(phone)
        return _Person(first, last, email, phone, rng.choice(US_ZIPS), "US")

    def _new_phone(self) -> str:
        """A number nobody in this batch has, while there are some left (1,200 in all)."""
        for _ in range(50):
            area, line = self.rng.choice(AREA_CODES), self.rng.randrange(100)
            if (area, line) not in self.numbers:
                break
        self.numbers.add((area, line))
        return self.rng.choice(PHONE_FORMATS).format(a=area, n=line)

    def received_at(self) -> dt.datetime:
        # Spread over 60 days, more of them recent, mostly in waking hours (US Eastern).
        days = 60 * self.rng.random() ** 1.4
        moment = self.now - dt.timedelta(days=days)
        # Draw every number whatever the hour, so a seed gives the same data at any time of day.
        later, roll = self.rng.randrange(8, 14), self.rng.random()
        if (moment.hour - 4) % 24 < 7 and roll < 0.8:  # roughly Eastern time
            moment += dt.timedelta(hours=later)
        return min(moment, self.now - dt.timedelta(minutes=1))

    def evidence(self, program: Program, when: dt.datetime) -> Evidence:
        rng = self.rng
        weights = [t[0] for t in TRAFFIC]
        _, source, medium, campaigns, referrer = rng.choices(TRAFFIC, weights)[0]
        utm = {}
        if source:
            utm = {
                "utm_source": source,
                "utm_medium": medium,
                "utm_campaign": rng.choice(campaigns),
            }
            if source == "google":
                utm["utm_term"] = rng.choice(SEARCH_TERMS)
            if source == "facebook":
                utm["utm_content"] = rng.choice(("video-a", "carousel-b"))
        elif rng.random() < 0.4:
            referrer = rng.choice(("https://www.bing.com/", "https://duckduckgo.com/"))
        channel = rng.choices(("form", "embed", "api"), (75, 20, 5))[0]
        page = f"{SITE}/programs/{program.slug}"
        if channel == "embed":
            page = f"https://careers.example.org/healthcare/{program.slug}"
        elif channel == "api":
            page = f"https://landing.example.net/{utm.get('utm_campaign') or 'apply'}"
        if utm:
            page += "?" + "&".join(f"{k}={v.replace(' ', '+')}" for k, v in utm.items())
        ip = rng.choice(
            (
                f"192.0.2.{rng.randrange(1, 255)}",
                f"198.51.100.{rng.randrange(1, 255)}",
                f"203.0.113.{rng.randrange(1, 255)}",
                f"2001:db8::{rng.randrange(1, 0xFFFF):x}",
            )
        )
        return Evidence(
            channel=channel,
            ip=ip,
            user_agent=rng.choice(USER_AGENTS),
            page_url=page,
            referrer=referrer,
            utm=utm,
            received_at=when,
        )

    def fields(self, person: _Person, program: Program) -> dict[str, object]:
        """What the person types into the form, as field values."""
        rng = self.rng
        has_phone = False
        if person.phone:
            try:
                has_phone = clean_phone(person.phone, person.country) is not None
            except FieldError:
                person.phone = ""
        terms = [value for value, _ in start_terms(self.now.date())]
        return {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": person.email,
            "phone": person.phone,
            "postal_code": person.postal_code or "",
            "country": person.country or "",
            "program": program.slug,
            "start_term": rng.choice(terms),
            "education_level": rng.choices(
                [v for v, _ in EDUCATION_LEVELS], (40, 25, 15, 12, 5, 3)
            )[0],
            "military": rng.choices([v for v, _ in MILITARY_AFFILIATIONS], (85, 3, 7, 2, 3))[0],
            "comments": rng.choice(COMMENTS) if rng.random() < 0.4 else "",
            "consent": True,
            "sms_opt_in": has_phone and rng.random() < 0.3,
        }

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        span = max((end - start).total_seconds(), 1.0)
        return start + dt.timedelta(seconds=self.rng.uniform(0, span))


def _label(status: str) -> str:
    return STATUS_LABELS[status]


def _work_lead(
    session: Session,
    gen: _Generator,
    lead: Lead,
    counselors: list[StaffUser],
    manager: StaffUser,
) -> None:
    """Make up a plausible history of staff work on the lead, dated between then and now."""
    rng, now = gen.rng, gen.now
    start = lead.created_at
    age = now - start
    activities: list[Activity] = []

    def add(kind: str, actor: StaffUser, when: dt.datetime, body: str, **data: Any) -> None:
        activities.append(
            Activity(
                lead_id=lead.id, kind=kind, actor_id=actor.id, body=body, data=data, created_at=when
            )
        )

    # Recent leads wait in the queue; a few older ones were never picked up.
    if age < dt.timedelta(minutes=45) or rng.random() < 0.1:
        if age > dt.timedelta(hours=2) and rng.random() < 0.5:
            owner = rng.choice(counselors)
            lead.owner_id = owner.id
            add(
                ASSIGNED,
                manager,
                gen.between(start, now),
                f"Assigned to {owner.name}.",
                from_owner=None,
                to_owner=owner.id,
            )
        session.add_all(activities)
        return

    owner = rng.choice(counselors)
    # Speed to lead: minutes for most, hours or a day or two for some.
    delay = dt.timedelta(
        minutes=rng.choice((rng.uniform(3, 15), rng.uniform(15, 60), rng.uniform(60, 2880)))
    )
    first_touch = min(start + delay, now - dt.timedelta(minutes=1))
    lead.owner_id = owner.id
    claimed = rng.random() < 0.5  # else a manager assigned it
    add(
        ASSIGNED,
        owner if claimed else manager,
        first_touch - dt.timedelta(minutes=1),
        f"{'Claimed by' if claimed else 'Assigned to'} {owner.name}.",
        from_owner=None,
        to_owner=owner.id,
    )

    choices: tuple[tuple[str, int], ...] = FINAL_STATUSES
    if lead.submission_count > 1:
        # A re-submission reopens a closed lead, so a lead that asked again is still open.
        choices = tuple((s, w) for s, w in FINAL_STATUSES if s not in CLOSED_STATUSES)
    final = rng.choices([s for s, _ in choices], [w for _, w in choices])[0]
    path = STATUS_PATH[final]
    moments = sorted(gen.between(first_touch, now) for _ in path[1:])
    moments.insert(0, first_touch)

    lead.first_contacted_at = first_touch
    previous = "new"
    for status, at in zip(path, moments, strict=True):
        if status in ("attempted", "contacted", "unreachable"):
            channel, channel_label = rng.choice(CONTACT_CHANNELS)
            if status == "contacted":
                outcome = "reached"
            elif channel == "call":
                outcome = rng.choice(("left_message", "no_answer"))
            else:
                outcome = "sent"
            add(
                CONTACT_ATTEMPT,
                owner,
                at,
                f"{channel_label}: {DEMO_OUTCOMES[outcome]}.",
                channel=channel,
                outcome=outcome,
            )
        add(
            STATUS_CHANGED,
            owner,
            at + dt.timedelta(seconds=5),
            f"Status changed from {_label(previous)} to {_label(status)}.",
            **{"from": previous, "to": status},
        )
        previous = status
    lead.status = final
    if rng.random() < 0.35:
        add(NOTE, owner, gen.between(first_touch, now), rng.choice(NOTES))

    if final in ("attempted", "contacted", "qualified", "applied") and rng.random() < 0.8:
        # About a third are overdue: the "Overdue follow-ups" tab has something in it.
        due = now + dt.timedelta(hours=rng.uniform(-6 * 24, 12 * 24))
        due = due.replace(minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0)
        lead.next_follow_up_at = due
        add(FOLLOW_UP, owner, max(moments), "Follow-up set.", at=due.isoformat())
    session.add_all(activities)


def _schedule(gen: _Generator, programs: list[Program], count: int) -> Iterator[tuple[Any, ...]]:
    """(when, person, program) of every submission, in the order they arrive."""
    rng = gen.rng
    weights = [max(1, len(programs) - i) for i in range(len(programs))]
    events = []
    for i in range(count):
        person = gen.person()
        program = rng.choices(programs, weights)[0]
        # A handful arrived in the last hour, so new leads waiting for a first call show up.
        when = gen.now - dt.timedelta(minutes=rng.uniform(2, 50)) if i < 4 else gen.received_at()
        events.append((when, person, program))
        if rng.random() < 0.1:  # asked again about the same program (double submit, or later)
            again = when + dt.timedelta(seconds=rng.choice((8, 3600 * rng.uniform(1, 400))))
            events.append((min(again, gen.now), person, program))
        if rng.random() < 0.08 and len(programs) > 1:  # and about another program
            other = rng.choice([p for p in programs if p is not program])
            events.append((gen.between(when, gen.now), person, other))
    events.sort(key=lambda e: e[0])
    yield from events


#: What bots put in a request form, and the reasons the quarantine gives for it.
_BOT_NAMES = (
    ("Cheap Meds", "www.pharma-deals.top", ["url_in_name"]),
    ("SEO", "Ranking https://seo.example", ["url_in_name", "too_fast"]),
    ("<a href=x>Win</a>", "Prize", ["url_in_name", "honeypot"]),
    ("Crypto", "Bonus", ["honeypot", "too_fast"]),
)


def _hold_some(
    session: Session, gen: _Generator, programs: list[Program], consent: ConsentInfo, count: int
) -> int:
    """Quarantine `count` requests: mostly bots, one in four a person who was too quick."""
    rng = gen.rng
    for n in range(count):
        program = rng.choice(programs)
        when = gen.received_at()
        # One in four is a real person whose browser autofilled the form in a second; the
        # first is one, so even the smallest demo has a request a manager can release.
        if n % 4 == 0:
            person = gen.person()
            raw = {
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "phone": person.phone,
                "postal_code": person.postal_code or "",
                "country": person.country,
                "consent": "y",
            }
            reasons = ["too_fast"]
        else:
            first, last, reasons = rng.choice(_BOT_NAMES)
            raw = {
                "first_name": first,
                "last_name": last,
                "email": f"{_ascii(first).lower().replace(' ', '')[:10] or 'x'}{n}@mail.example",
                "comments": "Best prices online, visit now!!!",
                "website": "https://spam.example",
            }
        store.quarantine_submission(
            session,
            {**raw, "program": program.slug},
            gen.evidence(program, when),
            idempotency_key=f"demo:{secrets.token_hex(12)}",
            reasons=reasons,
            consent=consent if raw.get("consent") else None,
            program=program,
        )
    return count


def load_demo(
    session: Session,
    settings: Settings,
    *,
    leads: int = 300,
    seed: int | None = None,
    now: dt.datetime | None = None,
) -> DemoResult:
    """Add about `leads` people asking about programs over the last 60 days, and staff work.

    Every request goes through the submit use case, as a real one would (not screened for
    spam, and with no notification: the history is made up).
    """
    catalog: Catalog = read_catalog(session)
    consent = catalog.consent
    programs = store.active_programs(session)
    if not programs or consent is None:
        raise DemoError("load the program catalog first: flask --app wsgi programs load")
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    gen = _Generator(rng, now or utcnow())
    team, created, password = ensure_demo_staff(session, settings)
    counselors = [u for u in team if u.role == "counselor"]
    manager = next(u for u in team if u.role == "manager")
    result = DemoResult(people=leads, staff_created=created, staff_password=password)

    touched: dict[int, Lead] = {}
    for when, person, program in _schedule(gen, programs, leads):
        done = submit.submit(
            session,
            submit.Received(
                fields=gen.fields(person, program),
                evidence=gen.evidence(program, when),
                idempotency_key=f"demo:{secrets.token_hex(12)}",
                consent=consent,
            ),
            programs=catalog.by_slug,
            settings=settings,
            screen=False,
            notify=False,  # the history is made up: nobody should be notified about it
        )
        outcome = done.outcome
        assert outcome is not None  # noqa: S101 - not screened, so never quarantined
        result.submissions += 1
        if outcome.lead_created:
            result.leads_created += 1
            touched[outcome.lead_id] = outcome.lead(session)
        else:
            result.resubmissions += 1

    for lead in touched.values():
        _work_lead(session, gen, lead, counselors, manager)
    result.held = _hold_some(session, gen, programs, consent, max(3, leads // 40))
    audit.record(
        session,
        "demo.loaded",
        DEMO,
        leads=result.leads_created,
        submissions=result.submissions,
        seed=seed,
    )
    session.flush()
    return result
