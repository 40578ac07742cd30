"""Who is looking at a portal page: the patron's server-side session and the language.
Cookies and CSRF tokens work as on every page of libcard (web/browser.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from libcard.access.models import PortalSession
from libcard.access.sessions import SessionRules, find_session, needs_touch, touch_session
from libcard.accounts.portal import AccountView, account_view
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import Forbidden
from libcard.patrons.models import Patron
from libcard.policy.models import Institution
from libcard.runtime import Runtime
from libcard.web.browser import BrowserVisit, cookie_name, visitor_language


def cookie_names(secure: bool) -> tuple[str, str]:
    """Session and pre-session cookie names of the portal."""
    return cookie_name(Visit.SESSION_COOKIE, secure), cookie_name(Visit.VISIT_COOKIE, secure)


def patron_actor(patron: Patron) -> Actor:
    return Actor(
        kind=ActorKind.PATRON,
        label=f"patron {patron.id} (portal)",
        id=str(patron.id),
        institution_id=patron.institution_id,
        patron_id=patron.id,
    )


@dataclass
class Visit(BrowserVisit):
    """A portal page's visitor: anonymous, or a patron with a live session."""

    session: PortalSession | None = None
    patron_language: str | None = None

    STRONG_LOGIN_COOKIE = "libcard_strong"

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

    def session_binding(self) -> str | None:
        if self.session is None:
            return None
        return f"session:{self.session.id}:{self.session.created_at.isoformat()}"

    @property
    def assurance(self) -> str | None:
        """The assurance level (acr) of this session's login at the identity broker, if any."""
        if self.session is None or self.session.assured_at is None:
            return None
        return self.session.assurance_acr

    @property
    def strong_login_cookie(self) -> str:
        """The cookie that carries a strong login under way to the broker and back."""
        return cookie_name(self.STRONG_LOGIN_COOKIE, self.secure)

    def hold_strong_login(self, sealed: str) -> None:
        self._new_cookies[self.strong_login_cookie] = (sealed, None)
        self._dropped_cookies.discard(self.strong_login_cookie)

    def drop_strong_login(self) -> None:
        self._dropped_cookies.add(self.strong_login_cookie)
        self._new_cookies.pop(self.strong_login_cookie, None)

    def log_in(self, session: PortalSession, secret: str) -> None:
        self.session = session
        self.set_session_cookie(secret)

    def log_out(self) -> None:
        self.session = None
        self.drop_session_cookie()

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
    visit.read_visit_cookie()
    return visit


async def open_visit(request: Request) -> Visit:
    """Read the cookies and find the live session, if any."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    visit = Visit(request, runtime, language="en", fallback_language=settings.default_language)
    visit.read_visit_cookie()
    secret = request.cookies.get(visit.session_cookie)
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
