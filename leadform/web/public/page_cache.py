"""Blank form pages rendered once and filled in per request.

Rendering the request-info form through WTForms widgets and Jinja macros was most of the
cost of serving it, yet a blank form differs between visitors only in a few values: the CSRF
token, the signed form token and the utm_* attribution fields. The page is rendered with
random markers in their place, split at the markers, and each request joins the pieces with
its own values, HTML-escaped exactly as WTForms escapes them.

Only pages without anything personal are cached: no submitted values, no errors, no flashed
messages. The key holds everything else the page depends on (template, preselected program,
the whole catalog snapshot, the start-term list, the script root), so a catalog change is a
new key and can never show an old page.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from markupsafe import escape

_MAX_PAGES = 256  # a handful per catalog; old catalogs' pages are dropped wholesale


@dataclass(frozen=True)
class SlottedPage:
    """A rendered page split into literal text and named slots: text, slot, text, ..., text."""

    parts: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> str:
        """The page with each slot replaced by its value, HTML-escaped."""
        out = list(self.parts)
        for i in range(1, len(out), 2):
            out[i] = str(escape(values[out[i]]))
        return "".join(out)


class FormPageCache:
    """Slotted blank form pages by key, for one app."""

    def __init__(self) -> None:
        # Random per app: no catalog text or visitor can contain it by accident or design
        # (and a page where a marker does not appear exactly once is never cached).
        self.marker = f"lfslot{secrets.token_hex(12)}"
        self._pattern = re.compile(re.escape(self.marker) + r"-([a-z_]+)-")
        self._pages: dict[Hashable, SlottedPage] = {}
        self._lock = threading.Lock()

    def slot(self, name: str) -> str:
        """The placeholder to render in place of the value `name`."""
        return f"{self.marker}-{name}-"

    def get(
        self, key: Hashable, render: Callable[[], str], names: frozenset[str]
    ) -> SlottedPage | None:
        """The cached page for `key`, rendering and caching it on a miss.

        `render` must put `slot(name)` where each of `names` goes. None when the rendered
        page does not hold every slot exactly once: the caller renders normally instead.
        """
        page = self._pages.get(key)
        if page is not None:
            return page
        parts = tuple(self._pattern.split(render()))
        slots = parts[1::2]
        if len(slots) != len(names) or set(slots) != names:
            return None
        page = SlottedPage(parts)
        with self._lock:
            if len(self._pages) >= _MAX_PAGES:
                self._pages.clear()
            self._pages[key] = page
        return page
