"""Managing staff users: created, changed, disabled by an institution's administrator."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import func, select, update

from libcard.access.sessions import end_staff_sessions
from libcard.audit.service import record_on
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound
from libcard.kit.i18n import SUPPORTED
from libcard.kit.secrets import hash_password
from libcard.patrons.rules import check_password, normalise_email
from libcard.policy.models import Branch
from libcard.policy.service import get_institution
from libcard.staff.models import StaffRecoveryCode, StaffUser
from libcard.staff.roles import ACTOR_KIND, StaffRole

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TEMPORARY_PASSWORD_LENGTH = 16


def staff_actor(staff: StaffUser) -> Actor:
    """The actor a staff member acts as: their role's kind, institution and branch."""
    return Actor(
        kind=ACTOR_KIND[StaffRole(staff.role)],
        label=f"{staff.display_name} ({staff.username})",
        id=f"staff:{staff.id}",
        institution_id=staff.institution_id,
        branch_id=staff.branch_id,
    )


def _require_admin(ctx: Ctx, institution_id: int) -> None:
    if ctx.actor.kind not in (ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_staff", "Only an administrator may manage staff users.")
    if not ctx.actor.may_see_institution(institution_id):
        raise Forbidden("forbidden_institution", "This institution is not yours to change.")


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise InvalidInput(
            "staff_username",
            "A user name has 2–64 characters: small letters, digits, dot, dash or underscore.",
        )
    return name


def _display_name(text: str) -> str:
    name = " ".join(text.split())
    if not 1 <= len(name) <= 200:
        raise InvalidInput("staff_name", "Give the staff member's name (at most 200 characters).")
    return name


def _role(value: str) -> StaffRole:
    try:
        return StaffRole(value)
    except ValueError:
        raise InvalidInput("staff_role", "A role is desk, supervisor or admin.") from None


def _language(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in SUPPORTED:
        raise InvalidInput("language", "Choose Danish, German or English.")
    return value


async def _branch(ctx: Ctx, institution_id: int, branch_id: int | None) -> int | None:
    if branch_id is None:
        return None
    branch = await ctx.session.get(Branch, branch_id)
    if branch is None or branch.institution_id != institution_id:
        raise NotFound("branch_not_found", f"No branch with id {branch_id} in this institution.")
    if branch.closed_at is not None:
        raise InvalidInput("branch_closed", "This branch is closed; choose another.")
    return branch.id


async def create_staff(
    ctx: Ctx,
    institution_id: int,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    branch_id: int | None = None,
    email: str | None = None,
    preferred_language: str | None = None,
    must_change_password: bool = False,
) -> StaffUser:
    """A staff user. They enrol their second factor at their first login."""
    _require_admin(ctx, institution_id)
    await get_institution(ctx, institution_id)
    name = check_username(username)
    display = _display_name(display_name)
    staff_role = _role(role)
    check_password(password, (name, *display.split()))
    taken = await ctx.session.scalar(select(StaffUser.id).where(StaffUser.username == name))
    if taken is not None:
        raise Conflict("staff_username_taken", f"The user name {name!r} is taken.")
    now = ctx.clock.now()
    staff = StaffUser(
        institution_id=institution_id,
        branch_id=await _branch(ctx, institution_id, branch_id),
        username=name,
        display_name=display,
        email=normalise_email(email) if email else None,
        role=staff_role.value,
        preferred_language=_language(preferred_language),
        password_hash=await hash_password(password),
        password_changed_at=now,
        must_change_password=must_change_password,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(staff)
    await ctx.session.flush()
    await record_on(
        ctx, "staff:create", staff, username=name, role=staff_role.value, branch_id=branch_id
    )
    return staff


async def get_staff(ctx: Ctx, staff_id: int) -> StaffUser:
    staff = await ctx.session.get(StaffUser, staff_id)
    if staff is None or not ctx.actor.may_see_institution(staff.institution_id):
        raise NotFound("staff_not_found", f"No staff user with id {staff_id}.")
    return staff


async def list_staff(ctx: Ctx, institution_id: int) -> list[StaffUser]:
    _require_admin(ctx, institution_id)
    query = (
        select(StaffUser)
        .where(StaffUser.institution_id == institution_id)
        .order_by(StaffUser.disabled_at.is_not(None), func.lower(StaffUser.display_name))
    )
    return list((await ctx.session.scalars(query)).all())


@dataclass(frozen=True)
class StaffChanges:
    display_name: str | None = None
    role: str | None = None
    branch_id: int | None = None
    clear_branch: bool = False
    email: str | None = None
    preferred_language: str | None = None
    disabled: bool | None = None


async def update_staff(ctx: Ctx, staff_id: int, changes: StaffChanges) -> StaffUser:
    staff = await get_staff(ctx, staff_id)
    _require_admin(ctx, staff.institution_id)
    myself = ctx.actor.id == f"staff:{staff.id}"
    changed: list[str] = []

    def put(column: str, value: object) -> None:
        if getattr(staff, column) != value:
            setattr(staff, column, value)
            changed.append(column)

    if changes.display_name is not None:
        put("display_name", _display_name(changes.display_name))
    if changes.role is not None:
        role = _role(changes.role)
        if myself and role is not StaffRole.ADMIN:
            # Nobody locks the institution out of its own administration by accident.
            raise Conflict("staff_self_demote", "You cannot take the admin role from yourself.")
        put("role", role.value)
    if changes.clear_branch:
        put("branch_id", None)
    elif changes.branch_id is not None and changes.branch_id != staff.branch_id:
        put("branch_id", await _branch(ctx, staff.institution_id, changes.branch_id))
    if changes.email is not None:
        put("email", normalise_email(changes.email) if changes.email.strip() else None)
    if changes.preferred_language is not None:
        put("preferred_language", _language(changes.preferred_language))
    if changes.disabled is not None:
        if myself and changes.disabled:
            raise Conflict("staff_self_disable", "You cannot disable your own user.")
        if changes.disabled != (staff.disabled_at is not None):
            staff.disabled_at = ctx.clock.now() if changes.disabled else None
            changed.append("disabled")
            if changes.disabled:
                await end_staff_sessions(ctx, staff.id)
    if changed:
        staff.updated_at = ctx.clock.now()
        # A new role takes effect now: sessions opened with the old one end.
        if "role" in changed and not myself:
            await end_staff_sessions(ctx, staff.id)
        await record_on(ctx, "staff:update", staff, fields=sorted(changed))
    return staff


def temporary_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "-".join(
        "".join(secrets.choice(alphabet) for _ in range(TEMPORARY_PASSWORD_LENGTH // 4))
        for _ in range(4)
    )


async def set_temporary_password(ctx: Ctx, staff_id: int) -> str:
    """A new password chosen by the administrator, shown once; the user must replace it."""
    staff = await get_staff(ctx, staff_id)
    _require_admin(ctx, staff.institution_id)
    password = temporary_password()
    staff.password_hash = await hash_password(password)
    staff.password_changed_at = staff.updated_at = ctx.clock.now()
    staff.must_change_password = True
    await end_staff_sessions(ctx, staff.id)
    await record_on(ctx, "staff:set_temporary_password", staff)
    return password


async def reset_second_factor(ctx: Ctx, staff_id: int) -> StaffUser:
    """For a lost phone: the user enrols a new authenticator at their next login."""
    staff = await get_staff(ctx, staff_id)
    _require_admin(ctx, staff.institution_id)
    staff.totp_secret = None
    staff.totp_enrolled_at = None
    staff.totp_last_step = None
    staff.updated_at = ctx.clock.now()
    await ctx.session.execute(
        update(StaffRecoveryCode)
        .where(StaffRecoveryCode.staff_id == staff.id, StaffRecoveryCode.used_at.is_(None))
        .values(used_at=ctx.clock.now())
    )
    await end_staff_sessions(ctx, staff.id)
    await record_on(ctx, "staff:reset_second_factor", staff)
    return staff
