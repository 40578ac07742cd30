"""Who is looking at a portal page: cookies, the server-side session, CSRF and the language.

A visit before login is bound to a random pre-session cookie; after login to the session. The
CSRF token of a form is a keyed digest of that binding: another site can neither read the
cookie nor compute the token, and a token stops working when the session it belongs to ends.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response

from libcard.access.models import PortalSession
from libcard.access.sessions import SessionRules, find_session, needs_touch, touch_session
from libcard.accounts.portal import AccountView, account_view
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import Forbidden
from libcard.kit.i18n import SUPPORTED, negotiate
from libcard.kit.secrets import new_token
from libcard.patrons.models import Patron
from libcard.policy.models import Institution
from libcard.runtime import Runtime

LANGUAGE_COOKIE = "libcard_lang"
CSRF_PURPOSE = "portal-csrf"
LANGUAGE_YEARS = 1


def cookie_names(secure: bool) -> tuple[str, str]:
    """Session and pre-session cookie names; __Host- pins them to this host, HTTPS, path /."""
    prefix = "__Host-" if secure else ""
    return f"{prefix}libcard_session", f"{prefix}libcard_visit"


def patron_actor(patron: Patron) -> Actor:
    return Actor(
        kind=ActorKind.PATRON,
        label=f"patron {patron.id} (portal)",
        id=str(patron.id),
        institution_id=patron.institution_id,
        patron_id=patron.id,
    )


@dataclass
class Visit:
    """One request's view of the visitor; cookies to set are collected and applied at the end."""

    request: Request
    runtime: Runtime
    language: str
    session: PortalSession | None = None
    patron_language: str | None = None
    # Before login no institution is known: the deployment's default language.
    fallback_language: str = "da"
    visit_secret: str | None = None
    _new_cookies: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    _dropped_cookies: set[str] = field(default_factory=set)

    @property
    def secure(self) -> bool:
        return self.runtime.settings.cookie_secure

    @property
    def rules(self) -> SessionRules:
        settings = self.runtime.settings
        return SessionRules(
            idle=timedelta(minutes=settings.portal_idle_minutes),
            lifetime=timedelta(hours=settings.portal_session_hours),
        )

    @property
    def patron_id(self) -> int | None:
        return self.session.patron_id if self.session else None

    @property
    def me(self) -> int:
        """The logged-in patron's id; only for visits from `patron_visit`."""
        assert self.session is not None
        return self.session.patron_id

    @property
    def client_address(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    # --- CSRF -------------------------------------------------------------------------------

    def _binding(self) -> str:
        if self.session is not None:
            return f"session:{self.session.id}:{self.session.created_at.isoformat()}"
        if self.visit_secret is None:
            self.visit_secret = new_token()
            self._new_cookies[cookie_names(self.secure)[1]] = (self.visit_secret, None)
        return f"visit:{self.visit_secret}"

    @property
    def csrf_token(self) -> str:
        return self.runtime.keyring.digest(CSRF_PURPOSE, self._binding()).split("$")[-1]

    def check_csrf(self, submitted: str | None) -> None:
        if not submitted or not hmac.compare_digest(submitted, self.csrf_token):
            raise Forbidden("csrf_failed", "This form has expired. Reload the page and try again.")

    # --- cookies ----------------------------------------------------------------------------

    def log_in(self, session: PortalSession, secret: str) -> None:
        """A new session replaces whatever the visitor had (rotation at login)."""
        session_cookie, visit_cookie = cookie_names(self.secure)
        self.session = session
        self._new_cookies[session_cookie] = (secret, None)
        self._dropped_cookies.add(visit_cookie)
        self._new_cookies.pop(visit_cookie, None)

    def log_out(self) -> None:
        self.session = None
        self._dropped_cookies.add(cookie_names(self.secure)[0])

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

    # --- units of work ----------------------------------------------------------------------

    @asynccontextmanager
    async def unit(self, *, readonly: bool = False) -> AsyncIterator[Ctx]:
        """A unit of work as the logged-in patron (who sees only their own account)."""
        async with self.runtime.unit(readonly=readonly) as ctx:
            patron = await ctx.session.get(Patron, self.patron_id) if self.patron_id else None
            if patron is None:
                raise Forbidden("login_required", "Log in to see this page.")
            yield ctx.as_actor(patron_actor(patron))

    async def account(self) -> AccountView:
        """Everything the pages show of the logged-in patron's account, read in one unit."""
        async with self.unit(readonly=True) as ctx:
            return await account_view(ctx, self.me)


class LoginRequired(Exception):
    """A page for logged-in patrons was asked for without a live session."""

    def __init__(self, visit: Visit) -> None:
        super().__init__("login required")
        self.visit = visit


async def patron_visit(request: Request) -> Visit:
    """The visit of a logged-in patron; otherwise LoginRequired, which the portal answers
    with the login page that comes back here afterwards."""
    visit = await open_visit(request)
    if visit.session is None:
        raise LoginRequired(visit)
    return visit


def anonymous_visit(request: Request) -> Visit:
    """A visit read from the cookies alone, without the database (for error pages)."""
    runtime: Runtime = request.app.state.runtime
    fallback = runtime.settings.default_language
    visit = Visit(
        request, runtime, visitor_language(request, None, fallback), fallback_language=fallback
    )
    visit.visit_secret = request.cookies.get(cookie_names(runtime.settings.cookie_secure)[1])
    return visit


async def open_visit(request: Request) -> Visit:
    """Read the cookies and find the live session, if any."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    session_cookie, visit_cookie = cookie_names(settings.cookie_secure)
    visit = Visit(request, runtime, language="en", fallback_language=settings.default_language)
    visit.visit_secret = request.cookies.get(visit_cookie) or None
    secret = request.cookies.get(session_cookie)
    if secret:
        async with runtime.unit(readonly=True) as ctx:
            visit.session = await find_session(ctx, secret, visit.rules)
            if visit.session is not None:
                patron = await ctx.session.get(Patron, visit.session.patron_id)
                if patron is not None:
                    institution = await ctx.session.get(Institution, patron.institution_id)
                    visit.patron_language = patron.preferred_language
                    if institution is not None:
                        visit.fallback_language = institution.default_language
                stale = needs_touch(ctx, visit.session)
        if visit.session is None:
            visit.log_out()  # an ended session's cookie is useless: drop it
        elif stale:
            async with runtime.unit() as ctx:
                await touch_session(ctx, visit.session.id)
    visit.language = visitor_language(request, visit.patron_language, visit.fallback_language)
    return visit


def visitor_language(request: Request, patron_language: str | None, fallback: str) -> str:
    """The switch's choice, the patron's own, the browser's, the institution's default."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in SUPPORTED:
        return chosen
    if patron_language in SUPPORTED:
        return patron_language
    return negotiate(request.headers.get("accept-language"), fallback)
