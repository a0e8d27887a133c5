"""LeadForm's WSGI app with the CPU each request spends inside it counted, per gunicorn worker.

Served by `bench/submit_profile.py --no-spy`: it tells how much of a worker's CPU is the
app's own (Flask, LeadForm, SQLAlchemy, psycopg) and how much is gunicorn's and the
kernel's around it. os.times() has a resolution of a clock tick (10 ms): summed over
thousands of requests the error averages out. Each worker writes its totals to
$LEADFORM_INAPP_DIR/<pid>.json every 50 requests.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wsgi import app as leadform_app

_OUT = Path(os.environ.get("LEADFORM_INAPP_DIR") or tempfile.gettempdir())
_totals: dict[str, float] = {"GET": 0, "POST": 0, "GET cpu": 0.0, "POST cpu": 0.0}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Call LeadForm, read its whole body, count the CPU this took by request method."""
    before = os.times()
    body = leadform_app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    after = os.times()
    method = "POST" if environ["REQUEST_METHOD"] == "POST" else "GET"
    _totals[method] += 1
    _totals[f"{method} cpu"] += (after.user - before.user) + (after.system - before.system)
    if (_totals["GET"] + _totals["POST"]) % 50 == 0:
        (_OUT / f"{os.getpid()}.json").write_text(json.dumps(_totals))
    return [data]
