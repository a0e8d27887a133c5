"""Forms of the staff workspace: the lead page actions.

Forms parse and check the shape of the input; the rules (which status exists, who may own a
lead, what a note may hold) live in the services of leads.py, whose errors the views put
next to the same fields.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ...core.leads.actions import MAX_NOTE_LENGTH
from ...vocab import CONTACT_CHANNELS, CONTACT_OUTCOMES, STATUS_LABELS
from ..forms import BaseForm, filled, select_choices

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
DEFAULT_FOLLOW_UP_TIME = dt.time(9, 0)
#: Dates staff may type: anything outside is a typo (and 9999-12-31 overflows time zone math).
MIN_YEAR, MAX_YEAR = 2000, 2100
YEAR_MESSAGE = f"Enter a date between {MIN_YEAR} and {MAX_YEAR}."


def plausible_year(form: Any, field: Any) -> None:
    """A WTForms validator: a date field's year lies between MIN_YEAR and MAX_YEAR."""
    if isinstance(field.data, dt.date) and not MIN_YEAR <= field.data.year <= MAX_YEAR:
        raise ValidationError(YEAR_MESSAGE)


class StatusForm(BaseForm):
    """Move the lead to another status."""

    # The service checks the value (one list of statuses); the form only asks for one.
    status = SelectField(
        "Status",
        choices=select_choices(STATUS_LABELS.items()),
        validate_choice=False,
        validators=[DataRequired("Choose a status.")],
    )


class AssignForm(BaseForm):
    """Give the lead to a staff member, or back to the unassigned queue (managers)."""

    owner = SelectField("Assign to", validate_choice=False, id="assign-owner")


class ClaimForm(BaseForm):
    """Take an unassigned lead (no fields: the button is the whole form)."""


class NoteForm(BaseForm):
    """Add a note to the timeline."""

    body = TextAreaField(
        "Note",
        validators=[
            DataRequired("Write a note first."),
            Length(max=MAX_NOTE_LENGTH, message=f"Keep notes to {MAX_NOTE_LENGTH:,} characters."),
        ],
        id="note-body",
        render_kw={"rows": 3, "maxlength": MAX_NOTE_LENGTH},
    )


class ContactForm(BaseForm):
    """Log a call, email or text and how it went."""

    channel = SelectField(
        "Channel",
        choices=select_choices(CONTACT_CHANNELS),
        validate_choice=False,
        validators=[DataRequired("Choose how you contacted them.")],
        id="contact-channel",
    )
    outcome = SelectField(
        "Outcome",
        choices=select_choices(CONTACT_OUTCOMES, blank="Choose…"),
        validate_choice=False,
        validators=[DataRequired("Choose the outcome.")],
        id="contact-outcome",
    )
    note = TextAreaField(
        "Note",
        validators=[
            Optional(),
            Length(max=MAX_NOTE_LENGTH, message=f"Keep notes to {MAX_NOTE_LENGTH:,} characters."),
        ],
        id="contact-note",
        render_kw={"rows": 2, "maxlength": MAX_NOTE_LENGTH},
    )


class FollowUpForm(BaseForm):
    """Set the next follow-up as a local date and time, or clear it."""

    date = StringField("Date", id="follow-up-date", render_kw={"type": "date"})
    time = StringField(
        "Time", id="follow-up-time", render_kw={"type": "time", "step": 60}, default="09:00"
    )
    clear = SubmitField("Clear")

    def __init__(self, *args: Any, tz: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        #: The chosen moment in UTC, once validated (None: clear it).
        self.when: dt.datetime | None = None

    def validate_date(self, field: Any) -> None:
        """A real calendar date (browsers send YYYY-MM-DD)."""
        if self.clear.data:
            return
        if not field.data:
            raise ValidationError("Choose a date.")
        if not _DATE.match(field.data):
            raise ValidationError("Enter a date like 2026-03-01.")
        try:
            day = dt.date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError("That date doesn't exist; check the day and month.") from None
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise ValidationError(YEAR_MESSAGE)

    def validate_time(self, field: Any) -> None:
        """A time of day (HH:MM); empty means 9:00."""
        if self.clear.data or not field.data:
            return
        if not _TIME.match(field.data):
            raise ValidationError("Enter a time like 14:30.")
        try:
            dt.time.fromisoformat(field.data.zfill(5) if len(field.data) == 4 else field.data)
        except ValueError:
            raise ValidationError("Enter a time like 14:30.") from None

    def validate(self, extra_validators: Any = None) -> bool:
        """Check the fields, then turn the local date and time into a UTC moment."""
        if not super().validate(extra_validators):
            return False
        if self.clear.data:
            self.when = None
            return True
        day = dt.date.fromisoformat(filled(self.date))
        text = self.time.data
        at = dt.time.fromisoformat(text.zfill(5) if len(text) == 4 else text) if text else None
        local = dt.datetime.combine(day, at or DEFAULT_FOLLOW_UP_TIME).replace(tzinfo=self.tz)
        # A wall-clock time inside the spring-forward gap does not exist; asking beats guessing.
        try:
            back = local.astimezone(dt.UTC).astimezone(self.tz)
        except OverflowError:  # only near year 1 or 9999, which validate_date already refuses
            self.date.errors = [YEAR_MESSAGE]
            return False
        if back.replace(tzinfo=None) != local.replace(tzinfo=None):
            self.time.errors = ["That time is skipped by the daylight-saving change."]
            return False
        self.when = local.astimezone(dt.UTC)
        return True
