"""Form base class shared by every feature."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import StringField

# types-WTForms describes WTForms 3.2, from before SelectChoice (new in WTForms 3.3).
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import ValidationError

from ..core.intake.validation import bad_characters, strip_spaces

BAD_CHARACTERS = "Remove the special or invisible characters."


def strip_whitespace(value: Any) -> Any:
    """Trim surrounding spaces from text input (control characters stay, to be rejected)."""
    return strip_spaces(value) if isinstance(value, str) else value


def plain_text(form: Any, field: Any) -> None:
    """A WTForms validator: no NUL, control characters or bidi overrides in a text field.

    PostgreSQL refuses NUL in text, so a query with one would fail rather than find nothing.
    """
    if isinstance(field.data, str) and bad_characters(field.data):
        raise ValidationError(BAD_CHARACTERS)


class BaseForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no types: FlaskForm is Any
    """A Flask-WTF form that strips whitespace from every field before validation."""

    class Meta:
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            filters = unbound_field.kwargs.get("filters", [])
            if strip_whitespace not in filters:
                unbound_field.kwargs["filters"] = [strip_whitespace, *filters]
            return unbound_field.bind(form=form, **options)


def select_choices(
    pairs: Iterable[tuple[str, str]], blank: str | None = None
) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices, with an optional empty first option."""
    choices = [SelectChoice(value, label) for value, label in pairs]
    return [SelectChoice("", blank), *choices] if blank is not None else choices


def filled(field: StringField) -> str:
    """The text of a field whose validators required it (never None once the form validated)."""
    if field.data is None:
        raise ValueError(f"{field.name} has no data: read it after the form validated")
    return field.data
