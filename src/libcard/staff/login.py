"""Staff login: a password, then a one-time code from an authenticator app (or a recovery
code). Both steps are rate-limited; a session becomes fully valid only after the second, and
is replaced by a new one at that moment, so a secret seen before it is worth nothing after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from libcard.access.service import check_throttle, clear_failures, count_failure
from libcard.access.sessions import (
    SessionRules,
    end,
    end_staff_sessions,
    find_live,
    start_staff_session,
)
from libcard.audit.service import record_on
from libcard.context import Ctx
from libcard.errors import Conflict, Forbidden, WrongSecret
from libcard.kit.secrets import hash_password, new_code, normalise_code, verify_password
from libcard.patrons.rules import check_password
from libcard.policy.service import get_institution
from libcard.staff import totp
from libcard.staff.models import StaffRecoveryCode, StaffSession, StaffUser
from libcard.staff.service import staff_actor

LOGIN_ATTEMPTS = 5  # per user name, whether or not a user has it
ADDRESS_ATTEMPTS = 20  # per client address, over every user name it tries
CODE_ATTEMPTS = 5  # one-time and recovery codes per user
WINDOW = timedelta(minutes=15)
# Between the password and the code: long enough to find the phone, not to leave it open.
PENDING_LIFETIME = timedelta(minutes=10)
RECOVERY_CODES = 10
RECOVERY_PURPOSE = "staff-recovery-code"


@dataclass(frozen=True)
class Desk:
    """A live desk session and its staff member."""

    session: StaffSession
    staff: StaffUser

    @property
    def verified(self) -> bool:
        return self.session.verified_at is not None


def _login_failed() -> WrongSecret:
    return WrongSecret("login_failed", "The user name or password is wrong.")


def _code_wrong() -> WrongSecret:
    return WrongSecret("second_factor_wrong", "The code is wrong or has been used already.")


async def log_in(
    ctx: Ctx, username: str, password: str, client_address: str, rules: SessionRules
) -> tuple[Desk, str]:
    """The first step: the password. The session it opens leads only to the second step."""
    name = username.strip().lower()
    # The throttle key is cut to the column's size; the lookup uses the whole name.
    keys = (f"staff-login:{name[:64]}", f"staff-login-address:{client_address}")
    await check_throttle(ctx, keys[0], limit=LOGIN_ATTEMPTS, window=WINDOW)
    await check_throttle(ctx, keys[1], limit=ADDRESS_ATTEMPTS, window=WINDOW)
    staff = await ctx.session.scalar(select(StaffUser).where(StaffUser.username == name))
    stored = staff.password_hash if staff is not None else None
    # An unknown name costs the same Argon2 time as a wrong password.
    if not await verify_password(stored, password) or staff is None or staff.disabled_at:
        for key in keys:
            await count_failure(ctx, key, window=WINDOW)
        raise _login_failed()
    await clear_failures(ctx, keys[0])
    pending = SessionRules(idle=min(rules.idle, PENDING_LIFETIME), lifetime=PENDING_LIFETIME)
    session, secret = await start_staff_session(ctx, staff.id, pending, verified=False)
    return Desk(session, staff), secret


async def find_desk(ctx: Ctx, secret: str, rules: SessionRules) -> Desk | None:
    session = await find_live(ctx, StaffSession, secret, rules)
    if session is None:
        return None
    staff = await ctx.session.get(StaffUser, session.staff_id)
    if staff is None or staff.disabled_at is not None:
        return None
    return Desk(session, staff)


async def _pending(ctx: Ctx, session_id: int) -> StaffUser:
    session = await ctx.session.get(StaffSession, session_id)
    # Only a live session that has had the password and not yet the code leads on.
    if (
        session is None
        or session.ended_at is not None
        or session.verified_at is not None
        or session.expires_at <= ctx.clock.now()
    ):
        raise Forbidden("login_required", "Log in first.")
    staff = await ctx.session.get(StaffUser, session.staff_id, with_for_update=True)
    assert staff is not None
    return staff


async def _verified_session(
    ctx: Ctx, staff: StaffUser, pending_id: int, rules: SessionRules, method: str
) -> tuple[Desk, str]:
    await end(ctx, StaffSession, pending_id)
    session, secret = await start_staff_session(ctx, staff.id, rules, verified=True)
    staff.last_login_at = ctx.clock.now()
    await clear_failures(ctx, f"staff-code:{staff.id}")
    await record_on(ctx.as_actor(staff_actor(staff)), "staff:log_in", staff, method=method)
    return Desk(session, staff), secret


async def give_second_factor(
    ctx: Ctx, pending_id: int, code: str, rules: SessionRules
) -> tuple[Desk, str]:
    """The second step: a code from the authenticator, or one of the recovery codes."""
    staff = await _pending(ctx, pending_id)
    if staff.totp_enrolled_at is None:
        raise Conflict("second_factor_not_enrolled", "Set up the authenticator app first.")
    key = f"staff-code:{staff.id}"
    await check_throttle(ctx, key, limit=CODE_ATTEMPTS, window=WINDOW)
    method = await _accept_code(ctx, staff, code)
    if method is None:
        await count_failure(ctx, key, window=WINDOW)
        raise _code_wrong()
    return await _verified_session(ctx, staff, pending_id, rules, method)


async def _accept_code(ctx: Ctx, staff: StaffUser, code: str) -> str | None:
    secret = totp.unseal(ctx.keyring, staff.totp_secret) if staff.totp_secret else None
    step = totp.matching_step(secret, code, ctx.clock.now().timestamp()) if secret else None
    # A step at or before the last one accepted is a replayed code.
    if step is not None and (staff.totp_last_step is None or step > staff.totp_last_step):
        staff.totp_last_step = step
        return "totp"
    digest = ctx.keyring.digest(RECOVERY_PURPOSE, normalise_code(code))
    used = await ctx.session.execute(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_id == staff.id,
            StaffRecoveryCode.digest == digest,
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=ctx.clock.now())
    )
    return "recovery_code" if used.rowcount == 1 else None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Enrolment:
    secret: str  # shown as text beside the QR code, for apps that cannot scan
    uri: str  # otpauth://, shown as the QR code


async def begin_enrolment(ctx: Ctx, pending_id: int) -> Enrolment:
    """The authenticator secret for a user who has none yet; the same one until confirmed."""
    staff = await _pending(ctx, pending_id)
    if staff.totp_enrolled_at is not None:
        raise Conflict("second_factor_enrolled", "The authenticator app is set up already.")
    secret = totp.unseal(ctx.keyring, staff.totp_secret) if staff.totp_secret else None
    if secret is None:
        secret = totp.new_secret()
        staff.totp_secret = totp.seal(ctx.keyring, secret)
        await ctx.session.flush()
    institution = await get_institution(ctx, staff.institution_id)
    issuer = f"libcard {institution.code}"
    return Enrolment(secret, totp.provisioning_uri(secret, staff.username, issuer))


async def confirm_enrolment(
    ctx: Ctx, pending_id: int, code: str, rules: SessionRules
) -> tuple[Desk, str, list[str]]:
    """A code from the newly set-up app proves it works; the recovery codes come with it."""
    staff = await _pending(ctx, pending_id)
    if staff.totp_enrolled_at is not None or staff.totp_secret is None:
        raise Conflict("second_factor_enrolled", "The authenticator app is set up already.")
    key = f"staff-code:{staff.id}"
    await check_throttle(ctx, key, limit=CODE_ATTEMPTS, window=WINDOW)
    secret = totp.unseal(ctx.keyring, staff.totp_secret)
    step = totp.matching_step(secret, code, ctx.clock.now().timestamp()) if secret else None
    if step is None:
        await count_failure(ctx, key, window=WINDOW)
        raise _code_wrong()
    staff.totp_enrolled_at = ctx.clock.now()
    staff.totp_last_step = step
    codes = await _new_recovery_codes(ctx, staff)
    await record_on(ctx.as_actor(staff_actor(staff)), "staff:enrol_second_factor", staff)
    desk, cookie_secret = await _verified_session(ctx, staff, pending_id, rules, "totp")
    return desk, cookie_secret, codes


async def _new_recovery_codes(ctx: Ctx, staff: StaffUser) -> list[str]:
    now = ctx.clock.now()
    await ctx.session.execute(
        update(StaffRecoveryCode)
        .where(StaffRecoveryCode.staff_id == staff.id, StaffRecoveryCode.used_at.is_(None))
        .values(used_at=now)
    )
    codes = [new_code(10) for _ in range(RECOVERY_CODES)]
    for code in codes:
        ctx.session.add(
            StaffRecoveryCode(
                staff_id=staff.id,
                digest=ctx.keyring.digest(RECOVERY_PURPOSE, code),
                created_at=now,
            )
        )
    await ctx.session.flush()
    return codes


async def replace_recovery_codes(ctx: Ctx, staff_id: int) -> list[str]:
    """New recovery codes for the logged-in user; the old ones stop working."""
    staff = await ctx.session.get(StaffUser, staff_id)
    if staff is None or ctx.actor.id != f"staff:{staff_id}":
        raise Forbidden("forbidden_staff", "Only the user themselves may see new recovery codes.")
    codes = await _new_recovery_codes(ctx, staff)
    await record_on(ctx, "staff:replace_recovery_codes", staff)
    return codes


async def recovery_codes_left(ctx: Ctx, staff_id: int) -> int:
    count = await ctx.session.scalar(
        select(func.count())
        .select_from(StaffRecoveryCode)
        .where(StaffRecoveryCode.staff_id == staff_id, StaffRecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


async def change_own_password(
    ctx: Ctx, staff_id: int, session_id: int, current: str, new: str
) -> StaffUser:
    """The user's own new password; their other sessions end, this one goes on."""
    staff = await ctx.session.get(StaffUser, staff_id)
    if staff is None or ctx.actor.id != f"staff:{staff_id}":
        raise Forbidden("forbidden_staff", "Only the user themselves may change their password.")
    key = f"staff-password:{staff.id}"
    await check_throttle(ctx, key, limit=LOGIN_ATTEMPTS, window=WINDOW)
    if not await verify_password(staff.password_hash, current):
        await count_failure(ctx, key, window=WINDOW)
        raise WrongSecret("password_wrong", "The current password is wrong.")
    check_password(new, (staff.username, *staff.display_name.split()))
    if await verify_password(staff.password_hash, new):
        raise Conflict("password_unchanged", "Choose a password other than the current one.")
    staff.password_hash = await hash_password(new)
    staff.password_changed_at = staff.updated_at = ctx.clock.now()
    staff.must_change_password = False
    await end_staff_sessions(ctx, staff.id, keep=session_id)
    await record_on(ctx, "staff:change_password", staff)
    return staff


async def log_out(ctx: Ctx, session_id: int) -> None:
    await end(ctx, StaffSession, session_id)
