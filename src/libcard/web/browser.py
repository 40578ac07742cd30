"""What portal and desk pages share about a browser: cookies, CSRF tokens and the language.

A visit before login is bound to a random pre-session cookie; after login to the session. The
CSRF token of a form is a keyed digest of that binding: another site can neither read the
cookie nor compute the token, and a token stops working when the session it belongs to ends.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from libcard.errors import Forbidden
from libcard.kit.i18n import SUPPORTED, negotiate
from libcard.kit.secrets import new_token
from libcard.runtime import Runtime

LANGUAGE_COOKIE = "libcard_lang"
LANGUAGE_YEARS = 1


def cookie_name(name: str, secure: bool) -> str:
    """__Host- pins a cookie to this host, HTTPS and path /."""
    return f"__Host-{name}" if secure else name


@dataclass
class BrowserVisit:
    """One request's view of the browser; cookies to set are collected and applied at the end.
    Subclasses name their cookies and say what a session binds CSRF tokens to."""

    request: Request
    runtime: Runtime
    language: str
    fallback_language: str = "da"
    visit_secret: str | None = None
    _new_cookies: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    _dropped_cookies: set[str] = field(default_factory=set)

    SESSION_COOKIE = "libcard_session"
    VISIT_COOKIE = "libcard_visit"
    CSRF_PURPOSE = "portal-csrf"

    @property
    def secure(self) -> bool:
        return self.runtime.settings.cookie_secure

    @property
    def session_cookie(self) -> str:
        return cookie_name(self.SESSION_COOKIE, self.secure)

    @property
    def visit_cookie(self) -> str:
        return cookie_name(self.VISIT_COOKIE, self.secure)

    @property
    def client_address(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    def session_binding(self) -> str | None:
        """What the CSRF tokens of a logged-in visitor are bound to; None before login."""
        return None

    # --- CSRF -------------------------------------------------------------------------------

    def _binding(self) -> str:
        bound = self.session_binding()
        if bound is not None:
            return bound
        if self.visit_secret is None:
            self.visit_secret = new_token()
            self._new_cookies[self.visit_cookie] = (self.visit_secret, None)
        return f"visit:{self.visit_secret}"

    @property
    def csrf_token(self) -> str:
        return self.runtime.keyring.digest(self.CSRF_PURPOSE, self._binding()).split("$")[-1]

    def check_csrf(self, submitted: str | None) -> None:
        if not submitted or not hmac.compare_digest(submitted, self.csrf_token):
            raise Forbidden("csrf_failed", "This form has expired. Reload the page and try again.")

    # --- cookies ----------------------------------------------------------------------------

    def set_session_cookie(self, secret: str) -> None:
        """A new session replaces whatever the visitor had (rotation at login)."""
        self._new_cookies[self.session_cookie] = (secret, None)
        self._dropped_cookies.add(self.visit_cookie)
        self._new_cookies.pop(self.visit_cookie, None)

    def drop_session_cookie(self) -> None:
        self._dropped_cookies.add(self.session_cookie)
        self._new_cookies.pop(self.session_cookie, None)

    def choose_language(self, language: str) -> None:
        self.language = language
        seconds = int(timedelta(days=365 * LANGUAGE_YEARS).total_seconds())
        self._new_cookies[LANGUAGE_COOKIE] = (language, seconds)

    def apply_cookies(self, response: Response) -> Response:
        for name in self._dropped_cookies:
            response.delete_cookie(name, path="/", secure=self.secure, httponly=True)
        for name, (value, max_age) in self._new_cookies.items():
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=self.secure,
                httponly=True,
                samesite="lax",
            )
        return response

    def read_visit_cookie(self) -> None:
        self.visit_secret = self.request.cookies.get(self.visit_cookie) or None


def visitor_language(request: Request, own_language: str | None, fallback: str) -> str:
    """The switch's choice, the person's own, the browser's, the institution's default."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in SUPPORTED:
        return chosen
    if own_language in SUPPORTED:
        return own_language
    return negotiate(request.headers.get("accept-language"), fallback)


class CsrfToken:
    """A form's CSRF token, made when a template first prints it: a page without a form sets
    no pre-session cookie (an error page for a missing favicon must not replace the one the
    login form is bound to)."""

    def __init__(self, visit: BrowserVisit) -> None:
        self.visit = visit

    def __str__(self) -> str:
        return self.visit.csrf_token

    def __html__(self) -> str:
        return self.visit.csrf_token


def redirect(visit: BrowserVisit, to: str) -> Response:
    # 303: the browser follows with a GET, so a reload does not post the form again.
    return visit.apply_cookies(RedirectResponse(to, status_code=303))
