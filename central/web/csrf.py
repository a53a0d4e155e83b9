"""CSRF protection for the HTML forms.

A logged-in form carries ``HMAC(session token, "csrf")``: only a page that
could read the HttpOnly session cookie's value through the server can know it.
The login form, before there is a session, uses a random pre-session cookie
the same way (double submit). Every POST also has its ``Origin`` (when the
browser sends one) checked against the request's host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

FIELD = "csrf_token"


def token_for(secret: str, purpose: str = "csrf") -> str:
    """The form token bound to ``secret`` (a session token or the pre-session cookie)."""
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).hexdigest()


def new_pre_secret() -> str:
    return secrets.token_urlsafe(24)


def same_origin(request: Request) -> bool:
    """False when the browser says the POST came from another site."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


def valid(request: Request, secret: str | None, submitted: str | None, purpose: str = "csrf") -> bool:
    """Whether ``submitted`` is the token for ``secret`` and the request is same-origin."""
    if not secret or not submitted or not same_origin(request):
        return False
    return hmac.compare_digest(token_for(secret, purpose), submitted)
