"""Form base class shared by every feature."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectChoice

from ..core.intake.validation import strip_spaces


def strip_whitespace(value: Any) -> Any:
    """Trim surrounding spaces from text input (control characters stay, to be rejected)."""
    return strip_spaces(value) if isinstance(value, str) else value


class BaseForm(FlaskForm):
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
