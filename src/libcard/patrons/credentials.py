"""Passwords (R7) and the single-use secrets behind activation (R2) and password reset (R7)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from libcard.access.service import check_throttle, clear_failures, count_failure
from libcard.audit.service import record_on
from libcard.context import STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, WrongSecret
from libcard.kit.secrets import hash_password, new_code, new_token, normalise_code, verify_password
from libcard.patrons.models import Patron, SecretToken
from libcard.patrons.rules import check_password
from libcard.patrons.service import get_patron
from libcard.policy.service import get_institution

ACTIVATION = "activation"
PASSWORD_RESET = "password_reset"  # noqa: S105 — a purpose, not a secret
CHANNELS = frozenset({"email", "letter", "sso"})
PASSWORD_ATTEMPTS = 10
PASSWORD_WINDOW = timedelta(minutes=15)
ISSUERS = frozenset(
    {
        *STAFF_KINDS,
        ActorKind.REGISTRY,
        ActorKind.IDENTITY_PORTAL,
        ActorKind.SYSTEM,
    }
)


async def issue_activation_code(ctx: Ctx, patron_id: int, channel: str) -> tuple[SecretToken, str]:
    """A new single-use code for an account not yet activated; earlier codes stop working.

    The code itself is returned once, for the letter or the e-mail, and never stored.
    """
    if ctx.actor.kind not in ISSUERS:
        raise Forbidden("forbidden_activation", "You may not issue activation codes.")
    if channel not in CHANNELS:
        raise InvalidInput("channel", f"Send codes by {', '.join(sorted(CHANNELS))}.")
    patron = await get_patron(ctx, patron_id)
    if patron.activated_at is not None:
        raise Conflict("already_activated", "This account is activated already.")
    institution = await get_institution(ctx, patron.institution_id)
    code = new_code()
    token = await _issue(
        ctx, patron, ACTIVATION, code, channel, timedelta(days=institution.activation_code_days)
    )
    await record_on(
        ctx,
        "activation:issue_code",
        patron,
        channel=channel,
        expires_at=token.expires_at.isoformat(),
    )
    return token, code


async def revoke_open_secrets(ctx: Ctx, patron_id: int, purpose: str) -> None:
    """Every unused secret of this purpose stops working: a new one replaces them, or the
    account was activated another way."""
    await ctx.session.execute(
        update(SecretToken)
        .where(
            SecretToken.patron_id == patron_id,
            SecretToken.purpose == purpose,
            SecretToken.used_at.is_(None),
            SecretToken.revoked_at.is_(None),
        )
        .values(revoked_at=ctx.clock.now())
    )


async def _issue(
    ctx: Ctx, patron: Patron, purpose: str, secret: str, channel: str, ttl: timedelta
) -> SecretToken:
    now = ctx.clock.now()
    await revoke_open_secrets(ctx, patron.id, purpose)
    token = SecretToken(
        patron_id=patron.id,
        purpose=purpose,
        digest=ctx.keyring.digest(purpose, secret),
        channel=channel,
        created_at=now,
        expires_at=now + ttl,
    )
    ctx.session.add(token)
    await ctx.session.flush()
    return token


async def match_activation_code(ctx: Ctx, patron: Patron, code: str) -> SecretToken:
    """The patron's activation code that `code` is, counting wrong guesses per account. Checked
    before anything else about the account, so a guess tells nothing of its state."""
    key = f"activation:{patron.id}"
    await check_throttle(ctx, key, limit=PASSWORD_ATTEMPTS, window=PASSWORD_WINDOW)
    digest = ctx.keyring.digest(ACTIVATION, normalise_code(code))
    token = await ctx.session.scalar(
        select(SecretToken).where(
            SecretToken.digest == digest,
            SecretToken.patron_id == patron.id,
            SecretToken.purpose == ACTIVATION,
        )
    )
    if token is None or token.revoked_at is not None:
        await count_failure(ctx, key, window=PASSWORD_WINDOW)
        raise WrongSecret("activation_code_wrong", "The card number or activation code is wrong.")
    await clear_failures(ctx, key)
    return token


def consume_activation_code(ctx: Ctx, token: SecretToken) -> None:
    """Use up a matched code: once only, and only before it expires."""
    if token.used_at is not None:
        raise Conflict("activation_code_used", "This activation code has been used already.")
    if token.expires_at <= ctx.clock.now():
        raise Conflict(
            "activation_code_expired",
            "This activation code has expired; ask the library for a new one.",
        )
    token.used_at = ctx.clock.now()


async def set_password(
    ctx: Ctx, patron: Patron, password: str, extra_words: tuple[str, ...] = ()
) -> None:
    words = (
        patron.first_name,
        patron.last_name,
        *(patron.email or "").split("@")[:1],
        *extra_words,
    )
    check_password(password, words)
    patron.password_hash = await hash_password(password)
    patron.password_changed_at = ctx.clock.now()
    patron.updated_at = patron.password_changed_at


async def check_own_password(ctx: Ctx, patron: Patron, password: str) -> None:
    """Verify the patron's password, counting failures against a per-account limit."""
    key = f"password:{patron.id}"
    await check_throttle(ctx, key, limit=PASSWORD_ATTEMPTS, window=PASSWORD_WINDOW)
    if not await verify_password(patron.password_hash, password):
        await count_failure(ctx, key, window=PASSWORD_WINDOW)
        await record_on(ctx, "password:wrong", patron)
        raise WrongSecret("password_wrong", "The password is wrong.")
    await clear_failures(ctx, key)


def _require_self(ctx: Ctx, patron: Patron) -> None:
    # Only the patron, or an integration acting for exactly this patron, knows the password.
    acting_for_patron = ctx.actor.kind in (ActorKind.PATRON, ActorKind.SERVICE)
    if not acting_for_patron and ctx.actor.patron_id != patron.id:
        raise Forbidden("forbidden_password", "Only the patron may change their password.")


async def change_password(ctx: Ctx, patron_id: int, current: str, new: str) -> Patron:
    patron = await get_patron(ctx, patron_id)
    _require_self(ctx, patron)
    if patron.activated_at is None:
        raise Conflict(
            "account_not_activated", "Activate the account before changing its password."
        )
    await check_own_password(ctx, patron, current)
    await set_password(ctx, patron, new)
    await record_on(ctx, "password:change", patron)
    return patron


async def request_password_reset(
    ctx: Ctx, institution_id: int, email: str
) -> tuple[Patron, str] | None:
    """A reset token for the account with this e-mail, or None — the caller says the same either
    way, so that the answer never tells whether an account exists (R7)."""
    address = email.strip().lower()
    patron = await ctx.session.scalar(
        select(Patron).where(
            Patron.institution_id == institution_id,
            (Patron.email == address) | (Patron.institutional_email == address),
            Patron.closed_at.is_(None),
        )
    )
    if patron is None or patron.activated_at is None:
        return None
    institution = await get_institution(ctx, institution_id)
    secret = new_token()
    await _issue(
        ctx,
        patron,
        PASSWORD_RESET,
        secret,
        "email",
        timedelta(minutes=institution.password_reset_minutes),
    )
    await record_on(ctx, "password:reset_requested", patron)
    return patron, secret


async def reset_password(ctx: Ctx, secret: str, new: str) -> Patron:
    token = await ctx.session.scalar(
        select(SecretToken).where(
            SecretToken.digest == ctx.keyring.digest(PASSWORD_RESET, secret),
            SecretToken.purpose == PASSWORD_RESET,
        )
    )
    now = ctx.clock.now()
    if (
        token is None
        or token.used_at is not None
        or token.revoked_at is not None
        or token.expires_at <= now
    ):
        raise InvalidInput(
            "reset_link_invalid",
            "This link has expired or has been used. Ask for a new one on the login page.",
        )
    patron = await ctx.session.get(Patron, token.patron_id)
    assert patron is not None  # foreign key
    await set_password(ctx, patron, new)
    token.used_at = now
    await record_on(ctx, "password:reset", patron)
    return patron
