"""The embed form: the request-info form plus where it was embedded, without CSRF."""

from __future__ import annotations

from wtforms import HiddenField

from ..request_form.forms import RequestInfoForm


class EmbedForm(RequestInfoForm):
    """The request-info form as served in the iframe.

    No CSRF token: it lives in the session cookie, which a framed page on another site
    often cannot keep (third-party cookies blocked). The signed form token, the Origin check
    and the rate limit protect the POST instead (views.py).
    """

    class Meta:
        csrf = False

    #: The host page's URL and origin, checked against the allowlist on every request.
    page_url = HiddenField()
    parent_origin = HiddenField()
