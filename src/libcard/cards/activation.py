"""Activation (R1, R2): card number + one-time code, or the institution's single sign-on →
password and PIN chosen in one step."""

from __future__ import annotations

from libcard.audit.service import record_on
from libcard.cards.models import Card
from libcard.cards.pin import PinCheck, check_account_pin, set_pin
from libcard.cards.rules import CardState, check_photo_id
from libcard.cards.service import (
    activate_cards_of,
    cards_of,
    find_card,
    note_refused_use,
    state_now,
)
from libcard.context import ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, RuleViolation
from libcard.patrons.credentials import (
    ACTIVATION,
    consume_activation_code,
    match_activation_code,
    revoke_open_secrets,
    set_password,
)
from libcard.patrons.models import Patron
from libcard.patrons.rules import check_password, check_pin
from libcard.patrons.service import get_patron

SSO_CHANNEL = "sso"  # in the audit event: how the patron proved who they are


async def activate(ctx: Ctx, card_number: str, code: str, password: str, pin: str) -> Patron:
    card = await find_card(ctx, card_number)
    patron = await get_patron(ctx, card.patron_id)
    # The code first: without it, nobody learns whether a number is issued, used or lost.
    token = await match_activation_code(ctx, patron, code)
    if patron.activated_at is not None:
        raise Conflict(
            "already_activated", "This account is activated already; log in with your password."
        )
    state = state_now(ctx, card)
    if state is not CardState.NOT_ACTIVATED:
        await note_refused_use(ctx, card, "activation")
        raise RuleViolation(
            f"card_{state.value}",
            "This card cannot be used for activation; use another card.",
        )
    if patron.closed_at is not None:
        raise RuleViolation("account_closed", "This account is closed.")
    # Check what the patron chose before using up the code, so a weak password costs no code.
    words = (card.number or "",)
    _check_choices(patron, password, pin, words)
    consume_activation_code(ctx, token)
    return await _activate(ctx, patron, password, pin, words, channel=token.channel, card=card)


async def activate_signed_on(ctx: Ctx, patron: Patron, password: str, pin: str) -> Patron:
    """R2 by the institution's single sign-on: the broker's login has proved who the patron
    is (identity/sso.py), so no code is asked for; the patron chooses password and PIN, and
    any activation code sent earlier stops working."""
    if patron.activated_at is not None:
        raise Conflict(
            "already_activated", "This account is activated already; log in with your password."
        )
    if patron.closed_at is not None:
        raise RuleViolation("account_closed", "This account is closed.")
    words = tuple(card.number for card in await cards_of(ctx, patron.id) if card.number)
    _check_choices(patron, password, pin, words)
    await revoke_open_secrets(ctx, patron.id, ACTIVATION)
    return await _activate(ctx, patron, password, pin, words, channel=SSO_CHANNEL, card=None)


def _check_choices(patron: Patron, password: str, pin: str, card_numbers: tuple[str, ...]) -> None:
    check_pin(pin)
    check_password(password, (patron.first_name, patron.last_name, *card_numbers))


async def _activate(
    ctx: Ctx,
    patron: Patron,
    password: str,
    pin: str,
    card_numbers: tuple[str, ...],
    *,
    channel: str,
    card: Card | None,
) -> Patron:
    """Password and PIN set, the account and its new cards active (R1), in one step (R2)."""
    await set_password(ctx, patron, password, extra_words=card_numbers)
    await set_pin(ctx, patron, pin)
    patron.activated_at = ctx.clock.now()
    activated = await activate_cards_of(ctx, patron)
    await record_on(
        ctx,
        "patron:activate",
        patron,
        card_id=card.id if card is not None else None,
        channel=channel,
        cards=[c.id for c in activated],
    )
    return patron


async def activate_card(
    ctx: Ctx, card_number: str, *, pin: str | None = None, photo_id_kind: str | None = None
) -> PinCheck:
    """Activate a card that arrived after the account was activated — a student ID from the
    registry, a badge from the campus card system, a replacement sent by post (R1).

    The patron proves it is theirs with the account's PIN (a wrong one counts towards the
    lockout, as at a self-checkout machine); desk staff may instead record the photo ID seen.
    """
    card = await find_card(ctx, card_number)
    patron = await get_patron(ctx, card.patron_id)
    state = state_now(ctx, card)
    if patron.activated_at is None:
        raise Conflict(
            "account_not_activated",
            "Activate the account first, with the activation code, under 'Activate now'.",
        )
    if state is not CardState.NOT_ACTIVATED:
        raise Conflict(f"card_{state.value}", "Only a card that is not activated yet can be.")
    if pin is not None:
        if ctx.actor.kind not in (ActorKind.PATRON, ActorKind.SERVICE, ActorKind.SYSTEM):
            raise Forbidden("forbidden_activation", "The patron activates a card with their PIN.")
        check = await check_account_pin(ctx, card, state, pin)
        if not check.valid:
            return check
        how: dict[str, str] = {"proof": "pin"}
    elif photo_id_kind is not None:
        if not ctx.actor.is_staff:
            raise Forbidden("forbidden_activation", "Only desk staff activate cards by photo ID.")
        how = {"proof": "photo_id", "photo_id_kind": check_photo_id(photo_id_kind)}
        check = PinCheck(True, False, 0, state, patron.id)
    else:
        raise InvalidInput("proof_required", "Give the account's PIN, or the photo ID seen.")
    now = ctx.clock.now()
    card.state, card.activated_at, card.state_changed_at = CardState.ACTIVE.value, now, now
    await record_on(ctx, "card:activate", card, **how)
    return PinCheck(True, False, check.attempts_left, CardState.ACTIVE, patron.id)
