"""Security headers with a per-request CSP nonce, HSTS in production, and proxy handling."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response


def csp_nonce() -> str:
    """The nonce for this response's Content-Security-Policy (for a rare inline script)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


def content_security_policy(*, frame_ancestors: str = "'none'") -> str:
    """The policy: our own files only, no inline script, no plugins, no framing."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{csp_nonce()}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def allow_framing_by(origins: Iterable[str]) -> None:
    """Let these origins (and only these) frame this response: the embed pages.

    The response gets `frame-ancestors` with them ('none' when there are none) and no
    X-Frame-Options, which cannot name an origin (ALLOW-FROM is obsolete): DENY would block
    the frame in browsers that read it first.
    Every other response keeps `frame-ancestors 'none'` and `X-Frame-Options: DENY`.
    """
    g.frame_ancestors = " ".join(sorted(origins)) or "'none'"


def set_security_headers(response: Response) -> Response:
    """Add the headers every response carries; a view may have set its own CSP first."""
    ancestors: str | None = g.get("frame_ancestors")
    if ancestors is not None:
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(frame_ancestors=ancestors)
        )
    else:
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Not no-referrer: Flask-WTF's HTTPS CSRF check needs a same-origin Referer.
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    return response


#: Production is served over HTTPS only: browsers go on using HTTPS for a year, subdomains too.
HSTS = "max-age=31536000; includeSubDomains"


def set_hsts(response: Response) -> Response:
    """Strict-Transport-Security, on every response (errors and static files included)."""
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    """Trust X-Forwarded-* only for the configured proxy hops, and add the headers."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        # Flask's documented way to add WSGI middleware; mypy sees a method being replaced.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.after_request(set_security_headers)
    if app.config["ENV"] == "production":
        # Only in production: development is served over plain HTTP.
        app.after_request(set_hsts)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
