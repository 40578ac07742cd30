"""The self-checkout PIN (R5) and its lockout (R6).

One PIN per account, shared by its cards; a lockout therefore blocks every card of the
account — a thief who guesses on one card must not start afresh on another. Wrong PINs are
counted under a row lock (SELECT … FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite), so
concurrent guesses from any number of processes are counted one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libcard.audit.service import record_on
from libcard.blocks.mail import mail_block_changes
from libcard.blocks.rules import Block
from libcard.cards.models import Card, PinCredential
from libcard.cards.rules import CardState, check_photo_id
from libcard.cards.service import find_card, note_refused_use, state_now
from libcard.context import STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, RuleViolation
from libcard.kit.i18n import moment
from libcard.notify.recipient import mail_recipient, recipient
from libcard.patrons.credentials import check_own_password
from libcard.patrons.models import Patron
from libcard.patrons.rules import check_pin
from libcard.patrons.service import get_patron, patron_policy
from libcard.policy.models import Institution
from libcard.policy.rules import BlockCode, Policy

PIN = "pin"
VERIFIERS = frozenset(STAFF_KINDS | {ActorKind.TERMINAL, ActorKind.SERVICE, ActorKind.SYSTEM})


@dataclass(frozen=True)
class PinCheck:
    """The answer to a PIN check. While locked, `valid` is False whatever PIN was given."""

    valid: bool
    locked: bool
    attempts_left: int
    card_state: CardState
    patron_id: int


async def set_pin(ctx: Ctx, patron: Patron, pin: str) -> None:
    check_pin(pin)
    credential = await ctx.session.get(PinCredential, patron.id, with_for_update=True)
    now = ctx.clock.now()
    digest = ctx.keyring.digest(PIN, pin)
    if credential is None:
        ctx.session.add(PinCredential(patron_id=patron.id, digest=digest, changed_at=now))
    else:
        credential.digest, credential.changed_at = digest, now
    await ctx.session.flush()
    if credential is not None and patron.activated_at is not None:
        # A PIN replaced, not the first one chosen at activation: the patron hears of it, in
        # case it was not them.
        await _mail_pin_changed(ctx, patron, now)


async def _mail_pin_changed(ctx: Ctx, patron: Patron, at: datetime) -> None:
    institution = await ctx.session.get(Institution, patron.institution_id)
    assert institution is not None  # the patron's foreign key
    to = recipient(patron, institution)
    if to is not None:
        changed_at = moment(at, to.language, to.timezone)
        await mail_recipient(ctx, to, "pin_changed", changed_at=changed_at)


def _lockout(policy: Policy, since: datetime) -> Block:
    # The PIN lockout as the block rules see it (blocks.service.summary_of: stored id 0).
    code = BlockCode.PIN_LOCKED
    return Block(code, policy.effects_of(code), since, stored_id=0)


async def verify_pin(ctx: Ctx, card_number: str, pin: str) -> PinCheck:
    """Check a PIN given with a card. Wrong PINs count; at the limit the account locks (R6)."""
    if ctx.actor.kind not in VERIFIERS:
        raise Forbidden("forbidden_pin", "You may not check PINs.")
    card = await find_card(ctx, card_number)
    state = state_now(ctx, card)
    if state is not CardState.ACTIVE:
        await note_refused_use(ctx, card, "pin_verify")
        return PinCheck(False, False, 0, state, card.patron_id)
    return await check_account_pin(ctx, card, state, pin)


async def check_account_pin(
    ctx: Ctx, card: Card, state: CardState, pin: str, *, policy: Policy | None = None
) -> PinCheck:
    """Check `pin` against the account of `card` under the row lock, counting a wrong one.
    `policy` is the patron's, when the caller has read it already."""
    patron = await get_patron(ctx, card.patron_id)
    if policy is None:
        policy = await patron_policy(ctx, patron)
    credential = await ctx.session.get(
        PinCredential, patron.id, with_for_update=True, populate_existing=True
    )
    if credential is None:
        # Activated accounts always have a PIN; this is an account set up without one.
        raise RuleViolation("pin_not_set", "No PIN is set for this account; set one first.")
    limit = policy.max_wrong_pins
    if credential.locked_at is not None:
        await record_on(ctx, "pin:attempt_while_locked", card)
        return PinCheck(False, True, 0, state, patron.id)
    if ctx.keyring.verify(PIN, pin, credential.digest):
        credential.wrong_in_a_row = 0
        if not ctx.keyring.is_current(credential.digest):
            credential.digest = ctx.keyring.digest(PIN, pin)  # re-key after a rotation
        return PinCheck(True, False, limit, state, patron.id)
    credential.wrong_in_a_row += 1
    wrong_at = credential.last_wrong_at = ctx.clock.now()
    locked = credential.wrong_in_a_row >= limit
    if locked:
        credential.locked_at = wrong_at
    await record_on(
        ctx,
        "pin:lockout" if locked else "pin:wrong",
        card,
        wrong_in_a_row=credential.wrong_in_a_row,
    )
    if locked:
        await mail_block_changes(ctx, patron, [], [_lockout(policy, wrong_at)])
    return PinCheck(False, locked, max(limit - credential.wrong_in_a_row, 0), state, patron.id)


async def change_pin(ctx: Ctx, patron_id: int, password: str, new_pin: str) -> None:
    """R5: the PIN is changed in the portal, proven by the account password."""
    patron = await get_patron(ctx, patron_id)
    if (
        ctx.actor.kind not in (ActorKind.PATRON, ActorKind.SERVICE)
        and ctx.actor.patron_id != patron.id
    ):
        raise Forbidden("forbidden_pin", "Only the patron may change their PIN.")
    if patron.activated_at is None:
        raise Conflict("account_not_activated", "Activate the account before changing its PIN.")
    await check_own_password(ctx, patron, password)
    await set_pin(ctx, patron, new_pin)
    await record_on(ctx, "pin:change", patron)


async def unlock_pin(ctx: Ctx, patron_id: int, photo_id_kind: str, note: str | None = None) -> None:
    """R6: only staff, after checking a valid photo ID, lift a PIN lockout; both are recorded."""
    if not ctx.actor.is_staff:
        raise Forbidden("forbidden_unlock", "Only lending-desk staff can lift a PIN lockout.")
    kind = check_photo_id(photo_id_kind)
    patron = await get_patron(ctx, patron_id)
    credential = await ctx.session.get(
        PinCredential, patron.id, with_for_update=True, populate_existing=True
    )
    if credential is None or credential.locked_at is None:
        raise Conflict("pin_not_locked", "This account's PIN is not locked.")
    locked_since = credential.locked_at
    credential.locked_at = None
    credential.wrong_in_a_row = 0
    credential.unlocked_at = ctx.clock.now()
    credential.unlocked_by = ctx.actor.label
    credential.unlock_photo_id_kind = kind
    await record_on(
        ctx,
        "pin:unlock",
        patron,
        photo_id_kind=kind,
        note=note,
        locked_since=locked_since.isoformat(),
    )
    policy = await patron_policy(ctx, patron)
    await mail_block_changes(ctx, patron, [_lockout(policy, locked_since)], [])
