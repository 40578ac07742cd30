"""Activation (R1, R2): card number + one-time code → password and PIN chosen in one step."""

from __future__ import annotations

from libcard.audit.service import record
from libcard.cards.pin import set_pin
from libcard.cards.rules import CardState
from libcard.cards.service import activate_cards_of, find_card, note_refused_use, state_now
from libcard.context import Ctx
from libcard.errors import Conflict, RuleViolation
from libcard.patrons.credentials import consume_activation_code, set_password
from libcard.patrons.models import Patron
from libcard.patrons.rules import check_password, check_pin
from libcard.patrons.service import get_patron


async def activate(ctx: Ctx, card_number: str, code: str, password: str, pin: str) -> Patron:
    card = await find_card(ctx, card_number)
    patron = await get_patron(ctx, card.patron_id)
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
    check_pin(pin)
    words = (patron.first_name, patron.last_name, card.number or "")
    check_password(password, words)
    token = await consume_activation_code(ctx, patron, code)
    await set_password(ctx, patron, password, extra_words=(card.number or "",))
    await set_pin(ctx, patron, pin)
    patron.activated_at = ctx.clock.now()
    activated = await activate_cards_of(ctx, patron)
    await record(
        ctx,
        "patron:activate",
        "patron",
        patron.id,
        institution_id=patron.institution_id,
        patron_id=patron.id,
        card_id=card.id,
        channel=token.channel,
        cards=[c.id for c in activated],
    )
    return patron
