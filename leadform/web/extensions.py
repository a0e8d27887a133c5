"""Extension objects, created unbound here and bound to an app in create_app."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
# Keyed on the socket address, which ProxyFix rewrites only for trusted proxy hops.
limiter = Limiter(key_func=get_remote_address)
