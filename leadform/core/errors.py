"""Typed errors the core raises; each adapter turns them into its own answer.

The web adapter: Forbidden -> roll back, audit the denial, commit, 403; NotFound -> 404;
ActionError -> the form shown again with the message next to its field (422).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CoreError(Exception):
    """Base class of the errors a use case raises on purpose."""


class Forbidden(CoreError):
    """The actor may not do this. `reason` and `data` go to the denied-access audit."""

    def __init__(self, reason: str, **data: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


class NotFound(CoreError):
    """No such record (or none the actor may know exists)."""


class ActionError(CoreError):
    """The change is not possible as asked; the message is shown to the person.

    `field` names the form field the message belongs next to ("" for the action as a whole).
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ValidationFailed(CoreError):
    """Input broke the rules: messages by field name (the form's or the API's field names)."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = dict(errors)
