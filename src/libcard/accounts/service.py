"""Account-level use cases; each is one call inside one unit of work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from libcard.audit.service import record_on
from libcard.blocks.rules import Block, decide
from libcard.blocks.service import account_blocks
from libcard.cards.models import Card
from libcard.cards.rules import (
    PHYSICAL_KINDS,
    CardKind,
    CardState,
    check_number_format,
    normalise_number,
)
from libcard.cards.service import (
    cards_of,
    find_card,
    get_card,
    issue_card,
    mark_replaced,
    note_refused_use,
    state_now,
)
from libcard.context import ActorKind, Ctx
from libcard.errors import Conflict, InvalidInput, RuleViolation
from libcard.fees.models import Fee
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.kit.i18n import day
from libcard.notify.recipient import mail_recipient, recipient
from libcard.notify.service import MailLinks
from libcard.patrons.credentials import issue_activation_code
from libcard.patrons.models import Patron, SecretToken
from libcard.patrons.service import create_patron, get_patron, patron_policy
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import Action, Policy
from libcard.policy.service import get_institution, policy_for_group


@dataclass(frozen=True)
class Registration:
    patron: Patron
    ecard: Card
    activation_code: str | None  # shown once: for the letter or the e-mail


async def register_patron(
    ctx: Ctx,
    institution_id: int,
    group_code: str,
    fields: Mapping[str, Any],
    *,
    registry_id: str | None = None,
    identity_id: str | None = None,
    activation_channel: str | None = None,
    public_url: str | None = None,
) -> Registration:
    """A new patron always gets an e-card (R3); an activation code if a channel is named.
    By e-mail the code goes out in a mail queued in the same transaction; `public_url`, where
    patrons reach libcard, is needed then for the mail's link."""
    patron, _ = await create_patron(
        ctx, institution_id, group_code, fields, registry_id=registry_id, identity_id=identity_id
    )
    ecard = await issue_card(ctx, patron.id, CardKind.ECARD)
    code = None
    if activation_channel is not None:
        _, code = await issue_activation(ctx, patron.id, activation_channel, public_url=public_url)
    return Registration(patron, ecard, code)


async def issue_activation(
    ctx: Ctx, patron_id: int, channel: str, *, public_url: str | None = None
) -> tuple[SecretToken, str]:
    """A new activation code (R2); earlier codes stop working. By e-mail, the mail with the
    code is queued in the caller's transaction, so it goes out only if the code was issued;
    its link starts with `public_url`, the address patrons reach libcard at."""
    token, code = await issue_activation_code(ctx, patron_id, channel)
    if channel == "email":
        patron = await get_patron(ctx, patron_id)
        await _mail_activation_code(ctx, patron, token, code, public_url)
    return token, code


async def _mail_activation_code(
    ctx: Ctx, patron: Patron, token: SecretToken, code: str, public_url: str | None
) -> None:
    if public_url is None:
        raise ValueError("An activation code sent by e-mail needs the public URL for its link.")
    institution = await get_institution(ctx, patron.institution_id)
    to = recipient(patron, institution)
    if to is None:
        raise InvalidInput(
            "email_missing",
            "This patron has no e-mail address. Send the activation code by letter, or add "
            "an e-mail address first.",
        )
    card = await _card_to_activate(ctx, patron.id)
    await mail_recipient(
        ctx,
        to,
        "activation_code",
        card_number=card.number,
        code=code,
        valid_until=day(token.expires_at, to.language, to.timezone),
        activate_url=MailLinks(public_url).activate,
    )


async def _card_to_activate(ctx: Ctx, patron_id: int) -> Card:
    # The number the patron types with the code: the e-card's, which every account has (R3).
    ready = [
        card
        for card in await cards_of(ctx, patron_id)
        if card.number and state_now(ctx, card) is CardState.NOT_ACTIVATED
    ]
    ready.sort(key=lambda card: card.kind != CardKind.ECARD)
    if not ready:
        raise RuleViolation(
            "no_card_to_activate", "This account has no card that can be activated."
        )
    return ready[0]


@dataclass(frozen=True)
class Replacement:
    old: Card
    new: Card
    fee: Fee | None


async def replace_card(ctx: Ctx, card_id: int, *, number: str | None = None) -> Replacement:
    """R11: a new card for an old one. Library cards cost the group's replacement fee; an
    employee badge comes from the campus card system without one."""
    old = await get_card(ctx, card_id)
    kind = CardKind(old.kind)
    if kind not in PHYSICAL_KINDS:
        raise RuleViolation(
            "not_replaceable",
            "An e-card is replaced by reporting it lost; a new one comes at once.",
        )
    old_state = state_now(ctx, old)
    if old_state is CardState.REPLACED:
        raise Conflict("card_replaced", "This card has been replaced already.")
    new = await issue_card(ctx, old.patron_id, kind, number=number, replaces=old)
    # An expired card is renewed, not replaced: it keeps its state and costs nothing.
    renewal = old_state is CardState.EXPIRED
    if not renewal:
        await mark_replaced(ctx, old)
    fee = None
    policy = await patron_policy(ctx, await get_patron(ctx, old.patron_id))
    if kind is CardKind.PHYSICAL and not renewal and policy.card_replacement_fee_minor > 0:
        fee = await charge(
            ctx,
            old.patron_id,
            FeeType.CARD_REPLACEMENT,
            policy.card_replacement_fee_minor,
            "Replacement library card",
            card_id=new.id,
        )
    await record_on(ctx, "card:replace", old, new_card_id=new.id, fee_id=fee.id if fee else None)
    return Replacement(old, new, fee)


@dataclass(frozen=True)
class CardStatus:
    """The answer to "who is this card, and may they borrow?"."""

    card: Card
    state: CardState
    patron: Patron
    group: PatronGroup
    institution: Institution
    policy: Policy
    blocks: list[Block]
    may: dict[Action, bool]
    refusal: str | None  # why the card itself is refused: a code of cards/texts.py
    balance_minor: int


@dataclass(frozen=True)
class Holding:
    """A card with its holder, the holder's group and institution, and their policy."""

    card: Card
    patron: Patron
    group: PatronGroup
    institution: Institution
    policy: Policy


# Built once: making a statement costs about as much as running it.
_HOLDING = (
    select(Card, Patron, PatronGroup, Institution)
    .join(Patron, Patron.id == Card.patron_id)
    .join(PatronGroup, PatronGroup.id == Patron.group_id)
    .join(Institution, Institution.id == PatronGroup.institution_id)
    .where(Card.number == bindparam("number"))
)


async def find_holding(ctx: Ctx, number: str) -> Holding:
    """`find_card`, with the patron, group and institution read in the same query: a card
    number is asked for far more often than anything else (every self-checkout message).
    Raises what `find_card` raises."""
    normalised = normalise_number(number)
    check_number_format(normalised)
    row = (await ctx.session.execute(_HOLDING, {"number": normalised})).first()
    # The row keeps patron, group and institution in the session's identity map, so the
    # calls below find them there without another query. Cards found by other means (a
    # health card's digest) and every refusal take find_card's own way.
    card = row[0] if row is not None else await find_card(ctx, number)
    if not ctx.actor.may_see_patron(card.patron_id, card.institution_id):
        card = await find_card(ctx, number)  # raises NotFound, exactly as find_card does
    patron = await get_patron(ctx, card.patron_id)
    institution, group, policy = await policy_for_group(ctx, patron.group_id)
    return Holding(card, patron, group, institution, policy)


async def card_status(ctx: Ctx, number: str, *, note_refusal: bool = True) -> CardStatus:
    """The decision. A refused card's use is logged for staff (R10) unless the caller does
    that in a unit of its own (`note_refusal=False`, for read-only units)."""
    return await status_of(ctx, await find_holding(ctx, number), note_refusal=note_refusal)


async def status_of(ctx: Ctx, holding: Holding, *, note_refusal: bool = True) -> CardStatus:
    """The decision for a card found already (`find_holding`), as `card_status` makes it."""
    card, patron = holding.card, holding.patron
    state = state_now(ctx, card)
    refusal: str | None = None
    now = ctx.clock.now()
    if patron.closed_at is not None:
        refusal = "account_closed"
    elif patron.expires_at is not None and patron.expires_at <= now:
        refusal = "account_expired"
    elif state is not CardState.ACTIVE:
        refusal = f"card_{state.value}"
    if note_refusal and refusal_is_noted(ctx, state):
        await note_refused_use(ctx, card, "status")
    blocks, policy, ledger = await account_blocks(ctx, patron, holding.policy)
    may = decide(blocks, card_usable=refusal is None)
    return CardStatus(
        card,
        state,
        patron,
        holding.group,
        holding.institution,
        policy,
        blocks,
        may,
        refusal,
        ledger.balance_minor,
    )


def refusal_is_noted(ctx: Ctx, state: CardState) -> bool:
    # A patron looking at their own cards is not a use of the card.
    return state is not CardState.ACTIVE and ctx.actor.kind is not ActorKind.PATRON
