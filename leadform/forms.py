"""Form base class shared by every feature."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectChoice

# Spaces a person types or pastes: ASCII whitespace and Unicode space separators (Zs, such
# as the no-break space). Not str.strip()'s wider idea of whitespace, which also takes
# control characters (\x0b, \x0c, \x1c-\x1f, \x85) and would remove them before the
# validators can reject them.
_SPACES = " \t\r\n" + "".join(
    chr(c) for c in range(0x80, 0x3001) if unicodedata.category(chr(c)) == "Zs"
)


def strip_whitespace(value: Any) -> Any:
    """Trim surrounding spaces from text input (control characters stay, to be rejected)."""
    return value.strip(_SPACES) if isinstance(value, str) else value


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
