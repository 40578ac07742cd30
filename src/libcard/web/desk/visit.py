"""Who is at the desk: the staff member's server-side session, their role and language.

Desk sessions use cookies of their own, apart from the portal's, so that a patron logged in
on the same computer and a staff member never share a session or a CSRF token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from libcard.access.sessions import SessionRules, needs_touch, touch
from libcard.context import Ctx
from libcard.errors import Forbidden
from libcard.policy.models import Branch, Institution
from libcard.runtime import Runtime
from libcard.staff.login import Desk, find_desk
from libcard.staff.models import StaffSession, StaffUser
from libcard.staff.roles import StaffRole, at_least
from libcard.staff.service import staff_actor
from libcard.web.browser import BrowserVisit, visitor_language


@dataclass
class DeskVisit(BrowserVisit):
    SESSION_COOKIE = "libcard_staff"
    VISIT_COOKIE = "libcard_staff_visit"
    CSRF_PURPOSE = "desk-csrf"

    desk: Desk | None = None
    institution: Institution | None = None
    branch: Branch | None = None

    @property
    def rules(self) -> SessionRules:
        settings = self.runtime.settings
        return SessionRules(
            idle=timedelta(minutes=settings.desk_idle_minutes),
            lifetime=timedelta(hours=settings.desk_session_hours),
        )

    @property
    def verified(self) -> bool:
        return self.desk is not None and self.desk.verified

    @property
    def staff(self) -> StaffUser:
        """The logged-in staff member; only for visits from `staff_visit`."""
        assert self.desk is not None
        return self.desk.staff

    @property
    def role(self) -> StaffRole:
        return StaffRole(self.staff.role)

    def may(self, needed: StaffRole) -> bool:
        return self.verified and at_least(self.role, needed)

    def require(self, needed: StaffRole) -> None:
        if not self.may(needed):
            raise Forbidden("forbidden_role", f"This needs the {needed.value} role.")

    def session_binding(self) -> str | None:
        if self.desk is None:
            return None
        session = self.desk.session
        return f"staff-session:{session.id}:{session.created_at.isoformat()}"

    def log_in(self, desk: Desk, secret: str) -> None:
        self.desk = desk
        self.set_session_cookie(secret)

    def log_out(self) -> None:
        self.desk = None
        self.drop_session_cookie()

    @asynccontextmanager
    async def unit(
        self, *, reason: str | None = None, readonly: bool = False
    ) -> AsyncIterator[Ctx]:
        """A unit of work as the logged-in staff member; `reason` goes into the audit log."""
        if not self.verified:
            raise StaffLoginRequired(self)
        async with self.runtime.unit(staff_actor(self.staff), readonly=readonly) as ctx:
            yield ctx.because(reason)


class StaffLoginRequired(Exception):
    """A desk page was asked for without a live, fully verified session."""

    def __init__(self, visit: DeskVisit) -> None:
        super().__init__("staff login required")
        self.visit = visit


class PasswordChangeRequired(Exception):
    """The administrator set this user's password: they choose their own before working."""

    def __init__(self, visit: DeskVisit) -> None:
        super().__init__("password change required")
        self.visit = visit


async def open_desk_visit(request: Request) -> DeskVisit:
    """Read the cookies and find the live desk session, if any (verified or not)."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    visit = DeskVisit(request, runtime, language="en", fallback_language=settings.default_language)
    visit.read_visit_cookie()
    secret = request.cookies.get(visit.session_cookie)
    own_language = None
    stale = False
    if secret:
        async with runtime.unit(readonly=True) as ctx:
            visit.desk = await find_desk(ctx, secret, visit.rules)
            if visit.desk is not None:
                staff = visit.desk.staff
                own_language = staff.preferred_language
                visit.institution = await ctx.session.get(Institution, staff.institution_id)
                if staff.branch_id is not None:
                    visit.branch = await ctx.session.get(Branch, staff.branch_id)
                if visit.institution is not None:
                    visit.fallback_language = visit.institution.default_language
                stale = needs_touch(ctx, visit.desk.session)
        if visit.desk is None:
            visit.log_out()  # an ended session's cookie is useless: drop it
        elif stale:
            async with runtime.unit() as ctx:
                await touch(ctx, StaffSession, visit.desk.session.id)
    visit.language = visitor_language(request, own_language, visit.fallback_language)
    return visit


async def staff_visit(request: Request, *, password_page: bool = False) -> DeskVisit:
    """The visit of a staff member who gave both factors; otherwise StaffLoginRequired."""
    visit = await open_desk_visit(request)
    if not visit.verified:
        raise StaffLoginRequired(visit)
    if visit.staff.must_change_password and not password_page:
        raise PasswordChangeRequired(visit)
    return visit


def anonymous_desk_visit(request: Request) -> DeskVisit:
    """A visit read from the cookies alone, without the database (for error pages)."""
    runtime: Runtime = request.app.state.runtime
    fallback = runtime.settings.default_language
    visit = DeskVisit(
        request, runtime, visitor_language(request, None, fallback), fallback_language=fallback
    )
    visit.read_visit_cookie()
    return visit
