"""Name search the way counselors type: without accents, capitals or punctuation.

A person's name is stored a second time, folded (`Prospect.search_name`): " josé gómez" is
kept as " jose gomez", so "jose", "GÓMEZ" and "gom" all find it with a plain LIKE on one
indexed column. The leading space lets "a term at the start of a word" be `LIKE '% term%'`.
Search terms are folded by the same function, so both sides always agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper

from ...models import Prospect

#: Letters that Unicode decomposition does not split into a base letter and a mark.
_LETTERS = str.maketrans(
    {
        "đ": "d",
        "ð": "d",
        "ø": "o",
        "ł": "l",
        "æ": "ae",
        "œ": "oe",
        "ı": "i",
        "þ": "th",
        "ß": "ss",
        "ħ": "h",
        "ŧ": "t",
    }
)
#: Characters inside names that separate words: O'Connor, Jean-Luc, St. John.
_SEPARATORS = re.compile(r"[\s\-'’‘`´.,_/]+")
_APOSTROPHES = re.compile(r"['’‘`´]")
_MAX_LENGTH = 210  # the column's length: two 100-character names, a space, and some slack


def fold(text: str) -> str:
    """Text as searched: accents dropped, case folded, separators as single spaces.

    "Nguyễn Thị Đức" -> "nguyen thi duc", "O'Connor" -> "o connor", "Straße" -> "strasse".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.translate(_LETTERS)
    return _SEPARATORS.sub(" ", plain).strip()


def fold_email(text: str) -> str:
    """An email search term: accents dropped and case folded, punctuation kept."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_LETTERS)


def search_name(first_name: str | None, last_name: str | None) -> str:
    """The stored search text for a person: a space, then their folded names.

    A name with an apostrophe is kept both ways, "O'Connor" as "o connor oconnor": some
    type the apostrophe as a space, some leave it out.
    """
    names = f"{first_name or ''} {last_name or ''}"
    joined = [
        fold(_APOSTROPHES.sub("", word))
        for word in re.split(r"[\s\-]+", names)
        if _APOSTROPHES.search(word)
    ]
    return " ".join([" " + fold(names), *joined])[:_MAX_LENGTH].rstrip()


def match_rank(folded_name: str, email: str, terms: Sequence[str]) -> int:
    """How well a person matches folded search terms, best first: 0 when every term is a
    whole word of the name, 1 when every term starts a word of the name or the email, 2 when
    a term is only inside a word ("guyen" in Nguyen: PostgreSQL's infix match)."""
    words = folded_name.split()
    rank = 0
    for term in terms:
        if term in words:
            continue
        if any(word.startswith(term) for word in words) or email.startswith(fold_email(term)):
            rank = 1
        else:
            return 2
    return rank


def _keep_search_name(_mapper: Mapper[Any], _connection: Any, target: Prospect) -> None:
    """Recompute the folded name whenever an ORM change touches a name."""
    state = inspect(target)
    changed = (
        state.pending
        or state.attrs.first_name.history.has_changes()
        or state.attrs.last_name.history.has_changes()
    )
    if changed:
        target.search_name = search_name(target.first_name, target.last_name)


event.listen(Prospect, "before_insert", _keep_search_name)
event.listen(Prospect, "before_update", _keep_search_name)
