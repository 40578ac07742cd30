"""Cards: issue, find by number, and the lifecycle — lost (R10), stolen (R12), expired."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from libcard.audit.service import record_on
from libcard.cards.models import Card
from libcard.cards.rules import (
    ISSUED_KINDS,
    MISUSE_STATES,
    CardKind,
    CardState,
    check_issued_number,
    check_number_format,
    check_photo_id,
    check_transition,
    effective_state,
    looks_issued,
    make_card_number,
    normalise_number,
)
from libcard.context import STAFF_KINDS, Actor, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from libcard.kit.i18n import moment
from libcard.notify.recipient import mail_recipient, recipient
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron, patron_policy
from libcard.policy.models import Institution

STAFF_OR_SYSTEM = STAFF_KINDS | {ActorKind.SYSTEM}
# Who may issue which kind: badges come from the campus card system, student IDs from the
# registry, health cards and library cards from the desk.
ISSUERS: dict[CardKind, frozenset[ActorKind]] = {
    CardKind.PHYSICAL: STAFF_OR_SYSTEM,
    CardKind.ECARD: STAFF_OR_SYSTEM | {ActorKind.REGISTRY, ActorKind.IDENTITY_PORTAL},
    CardKind.STUDENT_ID: STAFF_OR_SYSTEM | {ActorKind.REGISTRY},
    CardKind.EMPLOYEE_BADGE: STAFF_OR_SYSTEM | {ActorKind.CAMPUS_CARD, ActorKind.IDENTITY_PORTAL},
    CardKind.HEALTH_CARD: STAFF_OR_SYSTEM,
}


def health_digest(ctx: Ctx, number: str) -> str:
    return ctx.keyring.digest("health-card", number)


async def _next_number(ctx: Ctx, institution_id: int) -> str:
    # The counter update takes the institution row's lock, so two desks never share a number.
    result = await ctx.session.execute(
        update(Institution)
        .where(Institution.id == institution_id)
        .values(next_card_serial=Institution.next_card_serial + 1)
        .returning(
            Institution.next_card_serial, Institution.card_prefix, Institution.card_number_length
        )
    )
    serial, prefix, length = result.one()
    return make_card_number(prefix, serial - 1, length)


async def issue_card(
    ctx: Ctx,
    patron_id: int,
    kind: CardKind,
    *,
    number: str | None = None,
    replaces: Card | None = None,
) -> Card:
    if ctx.actor.kind not in ISSUERS[kind]:
        raise Forbidden("forbidden_issue", f"You may not issue a card of kind {kind.value}.")
    patron = await get_patron(ctx, patron_id)
    if patron.closed_at is not None:
        raise RuleViolation("account_closed", "The account is closed; no new cards.")
    policy = await patron_policy(ctx, patron)
    institution = await ctx.session.get(Institution, patron.institution_id)
    assert institution is not None
    if kind is CardKind.PHYSICAL and not policy.may_hold_physical_card:
        raise RuleViolation(
            "physical_card_not_allowed",
            "Patrons of this group have no physical library card; they use the e-card (R4).",
        )
    now = ctx.clock.now()
    if kind is CardKind.ECARD:
        existing = await ctx.session.scalar(
            select(Card.id).where(
                Card.patron_id == patron.id,
                Card.kind == CardKind.ECARD,
                Card.state.in_([CardState.ACTIVE, CardState.NOT_ACTIVATED]),
            )
        )
        if existing is not None:
            raise Conflict("ecard_exists", "The account has an e-card already.")
    stored_number: str | None
    digest: str | None = None
    if kind in ISSUED_KINDS:
        if number is None or kind is CardKind.ECARD:
            stored_number = await _next_number(ctx, institution.id)
        else:
            stored_number = normalise_number(number)
            check_issued_number(
                stored_number, institution.card_prefix, institution.card_number_length
            )
    else:
        if number is None:
            raise InvalidInput("card_number_required", f"A {kind.value} card needs its number.")
        stored_number = normalise_number(number)
        check_number_format(stored_number)
        if looks_issued(stored_number, institution.card_prefix, institution.card_number_length):
            raise InvalidInput(
                "card_number_format", "This number belongs to the library's own card series."
            )
        if kind is CardKind.HEALTH_CARD:
            digest, stored_number = health_digest(ctx, stored_number), None
    clash = await ctx.session.scalar(
        select(Card.id).where(
            (Card.number == stored_number) if stored_number else (Card.number_digest == digest)
        )
    )
    if clash is not None:
        raise Conflict("card_number_in_use", "This card number belongs to a card already.")
    # A card handed over in person, or the e-card of an activated account, needs no activation.
    in_person = ctx.actor.kind in STAFF_OR_SYSTEM | {ActorKind.CAMPUS_CARD}
    active = patron.activated_at is not None and (kind is CardKind.ECARD or in_person)
    expires = None
    if kind is CardKind.PHYSICAL:
        expires = now + timedelta(days=365 * institution.card_valid_years)
    card = Card(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        kind=kind.value,
        number=stored_number,
        number_digest=digest,
        state=(CardState.ACTIVE if active else CardState.NOT_ACTIVATED).value,
        issued_at=now,
        activated_at=now if active else None,
        state_changed_at=now,
        expires_at=expires,
        replaces_card_id=replaces.id if replaces else None,
    )
    ctx.session.add(card)
    await ctx.session.flush()
    await record_on(
        ctx, "card:issue", card, kind=kind.value, replaces=replaces.id if replaces else None
    )
    return card


async def find_card(ctx: Ctx, raw_number: str) -> Card:
    """The card with this number, checking its form first; NotFound for others' cards."""
    number = normalise_number(raw_number)
    check_number_format(number)
    card = await ctx.session.scalar(select(Card).where(Card.number == number))
    if card is None:
        institutions = (
            await ctx.session.execute(
                select(Institution.card_prefix, Institution.card_number_length)
            )
        ).all()
        for prefix, length in institutions:
            if looks_issued(number, prefix, length):
                check_issued_number(number, prefix, length)
        card = await ctx.session.scalar(
            select(Card).where(Card.number_digest == health_digest(ctx, number))
        )
    if card is None or not ctx.actor.may_see_patron(card.patron_id, card.institution_id):
        raise NotFound("card_not_found", "No card with this number.")
    return card


async def get_card(ctx: Ctx, card_id: int) -> Card:
    card = await ctx.session.get(Card, card_id)
    if card is None or not ctx.actor.may_see_patron(card.patron_id, card.institution_id):
        raise NotFound("card_not_found", f"No card with id {card_id}.")
    return card


async def cards_of(ctx: Ctx, patron_id: int) -> list[Card]:
    await get_patron(ctx, patron_id)
    query = select(Card).where(Card.patron_id == patron_id).order_by(Card.id)
    return list((await ctx.session.scalars(query)).all())


def state_now(ctx: Ctx, card: Card) -> CardState:
    return effective_state(CardState(card.state), card.expires_at, ctx.clock.now())


async def note_refused_use(ctx: Ctx, card: Card, where: str) -> None:
    """Log the use of a lost, stolen or replaced card so that staff see possible misuse (R10)."""
    state = state_now(ctx, card)
    await record_on(
        ctx,
        "card:use_refused",
        card,
        state=state.value,
        where=where,
        possible_misuse=state in MISUSE_STATES,
    )


async def _transition(ctx: Ctx, card: Card, target: CardState) -> None:
    check_transition(state_now(ctx, card), target)
    card.state = target.value
    card.state_changed_at = ctx.clock.now()


async def report_lost(ctx: Ctx, card_id: int) -> Card:
    """R10: from now on the number is refused; the account's other cards keep working."""
    card = await get_card(ctx, card_id)
    allowed = set(STAFF_OR_SYSTEM | {ActorKind.PATRON})
    if card.kind == CardKind.EMPLOYEE_BADGE:
        allowed.add(ActorKind.CAMPUS_CARD)
    if ctx.actor.kind not in allowed and ctx.actor.patron_id != card.patron_id:
        raise Forbidden("forbidden_report", "You may not report this card lost.")
    await _transition(ctx, card, CardState.LOST)
    await record_on(ctx, "card:report_lost", card, kind=card.kind)
    await _mail_card_missing(ctx, card)
    if card.kind == CardKind.ECARD:
        # R3: there is always an e-card. A lost phone gets the account a new e-card number.
        await issue_card(
            ctx.as_actor(_system_for(ctx)), card.patron_id, CardKind.ECARD, replaces=card
        )
    return card


def _system_for(ctx: Ctx) -> Actor:
    return Actor(kind=ActorKind.SYSTEM, label=f"libcard for {ctx.actor.label}", id=ctx.actor.id)


async def mark_stolen(ctx: Ctx, card_id: int, photo_id_kind: str, note: str | None = None) -> Card:
    """R12: only the desk, with the patron in person showing photo ID, marks a card stolen."""
    if not ctx.actor.is_staff:
        raise Forbidden("forbidden_stolen", "Only lending-desk staff can mark a card stolen.")
    kind = check_photo_id(photo_id_kind)
    card = await get_card(ctx, card_id)
    was_lost = state_now(ctx, card) is CardState.LOST
    await _transition(ctx, card, CardState.STOLEN)
    await record_on(ctx, "card:mark_stolen", card, photo_id_kind=kind, note=note)
    if not was_lost:  # a card reported lost before was mailed about then
        await _mail_card_missing(ctx, card)
    return card


async def _mail_card_missing(ctx: Ctx, card: Card) -> None:
    """Tell the patron their card is blocked: whoever reported it, it may not have been them.
    Only the last four digits go in the mail; a health card's number is not kept at all."""
    patron = await ctx.session.get(Patron, card.patron_id)
    institution = await ctx.session.get(Institution, card.institution_id)
    assert patron is not None  # the card's foreign keys
    assert institution is not None
    to = recipient(patron, institution)
    if to is None:
        return
    await mail_recipient(
        ctx,
        to,
        "card_reported_lost",
        card_number_end=(card.number or "")[-4:],
        reported_at=moment(card.state_changed_at, to.language, to.timezone),
    )


async def mark_replaced(ctx: Ctx, card: Card) -> None:
    await _transition(ctx, card, CardState.REPLACED)


async def activate_cards_of(ctx: Ctx, patron: Patron) -> list[Card]:
    """At account activation the account's new cards become active with it (R1)."""
    now = ctx.clock.now()
    cards = await ctx.session.scalars(
        select(Card).where(Card.patron_id == patron.id, Card.state == CardState.NOT_ACTIVATED)
    )
    activated = []
    for card in cards:
        if state_now(ctx, card) is CardState.NOT_ACTIVATED:
            card.state, card.activated_at, card.state_changed_at = CardState.ACTIVE.value, now, now
            activated.append(card)
    return activated
