"""Emails written from templates (templates/email/): the prospect's confirmation."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..resources import resource_folder

SUBJECTS = {"confirmation": "Your request about {program}"}


@cache
def _environment() -> Environment:
    folder = Path(resource_folder("templates")) / "email"
    return Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a templated email."""
    env = _environment()
    subject = SUBJECTS[template].format(**context)
    text = env.get_template(f"{template}.txt").render(**context)
    html = env.get_template(f"{template}.html").render(**context)
    return subject, text, html
