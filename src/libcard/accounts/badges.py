"""The campus card system's use cases: employees' badges lost, blocked, replaced and linked
(R10, R11).

The campus card system issues badge numbers and owns the badges; it acts through a token of
actor kind `campus_card` bound to one institution, and reaches badges only: a library card, an
e-card or a student ID is not its to change. Every call is safe to repeat: the same report or
the same new number again answers as the first time and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from libcard.accounts.service import replace_card
from libcard.audit.service import record_on
from libcard.cards.models import Card
from libcard.cards.rules import (
    CardKind,
    CardState,
    check_number_format,
    check_transition,
    normalise_number,
)
from libcard.cards.service import issue_card, report_lost, state_now
from libcard.context import ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, NotFound, RuleViolation
from libcard.patrons.models import Patron
from libcard.policy.models import PatronGroup

# The group whose data the identity portal owns (policy.rules); only its members get badges
# from the campus card system (R11).
EMPLOYEE_GROUP = "employee"
# A badge in one of these states is refused already; reporting it again changes nothing.
REFUSED_STATES = frozenset(
    {CardState.LOST, CardState.STOLEN, CardState.REPLACED, CardState.EXPIRED}
)
IN_USE_STATES = frozenset({CardState.ACTIVE, CardState.NOT_ACTIVATED})


@dataclass(frozen=True)
class Badge:
    card: Card
    state: CardState
    employee: Patron


@dataclass(frozen=True)
class BadgeReplacement:
    old: Badge
    new: Badge


def _institution_of(ctx: Ctx) -> int:
    """The campus card system's institution: its token must be one of campus_card kind, bound
    to one institution, because identity ids and badges are the institution's own."""
    if ctx.actor.kind is not ActorKind.CAMPUS_CARD:
        raise Forbidden(
            "campus_card_token_required", "These routes are for the campus card system's token."
        )
    if ctx.actor.institution_id is None:
        raise Forbidden(
            "campus_card_institution_required",
            "The campus card system's token must be bound to its institution.",
        )
    return ctx.actor.institution_id


def _number(raw: str) -> str:
    number = normalise_number(raw)
    check_number_format(number)
    return number


async def _card_by_number(ctx: Ctx, number: str) -> Card | None:
    return await ctx.session.scalar(select(Card).where(Card.number == number))


async def _holder(ctx: Ctx, card: Card) -> Patron:
    patron = await ctx.session.get(Patron, card.patron_id)
    assert patron is not None  # the card's foreign key
    return patron


async def _badge(ctx: Ctx, raw_number: str, *, lock: bool = False) -> Badge:
    """The institution's badge with this number. Only the number is looked up, never a health
    card's digest: the campus card system has no business with national id numbers."""
    institution_id = _institution_of(ctx)
    query = select(Card).where(Card.number == _number(raw_number))
    if lock:
        # Two reports about one badge at once: the second waits, then finds the first's work.
        query = query.with_for_update()
    card = await ctx.session.scalar(query)
    if card is None or card.institution_id != institution_id:
        raise NotFound("badge_not_found", "No badge with this number.")
    if card.kind != CardKind.EMPLOYEE_BADGE:
        raise RuleViolation(
            "not_an_employee_badge",
            f"This number belongs to a card of kind {card.kind}, not an employee badge; the "
            "campus card system changes employee badges only.",
            kind=card.kind,
        )
    return Badge(card, state_now(ctx, card), await _holder(ctx, card))


async def _check_employee(ctx: Ctx, patron: Patron) -> None:
    group = await ctx.session.get(PatronGroup, patron.group_id)
    assert group is not None  # the patron's foreign key
    if group.code != EMPLOYEE_GROUP:
        raise RuleViolation(
            "not_an_employee",
            f"The holder belongs to the group {group.code!r}, not to the employees; only "
            "employees get badges from the campus card system.",
            group=group.code,
        )


async def report_badge_lost(ctx: Ctx, number: str) -> Badge:
    """R10: the badge number is refused from now on, and its use is logged as possible
    misuse; the employee's e-card and other cards keep working. The employee is mailed, as
    for any card reported lost."""
    badge = await _badge(ctx, number, lock=True)
    if badge.state in REFUSED_STATES:
        return badge
    card = await report_lost(ctx, badge.card.id)
    return Badge(card, state_now(ctx, card), badge.employee)


async def block_badge(ctx: Ctx, number: str) -> Badge:
    """The campus card system blocked the badge (a badge withdrawn, misuse suspected): refused
    from now on as a lost card is — final, its use logged as possible misuse — but recorded as
    a block, and no "reported lost" mail goes to the employee, whose badge was not lost."""
    badge = await _badge(ctx, number, lock=True)
    if badge.state in REFUSED_STATES:
        return badge
    card = badge.card
    check_transition(badge.state, CardState.LOST)
    card.state = CardState.LOST.value
    card.state_changed_at = ctx.clock.now()
    await record_on(ctx, "card:block", card, kind=card.kind)
    return Badge(card, CardState.LOST, badge.employee)


async def replace_badge(ctx: Ctx, old_number: str, new_number: str) -> BadgeReplacement:
    """R11: the campus card system gave the employee a new badge. The old number is refused
    at once (replaced), the new one belongs to the same employee, and nothing is charged.
    The same replacement again answers with the same two badges."""
    old = await _badge(ctx, old_number, lock=True)
    number = _number(new_number)
    existing = await _card_by_number(ctx, number)
    if existing is not None:
        if existing.replaces_card_id == old.card.id and existing.kind == CardKind.EMPLOYEE_BADGE:
            return BadgeReplacement(old, Badge(existing, state_now(ctx, existing), old.employee))
        raise Conflict("card_number_in_use", "This badge number belongs to another card already.")
    if old.state is CardState.REPLACED:
        raise Conflict("card_replaced", "This badge has been replaced by another badge already.")
    await _check_employee(ctx, old.employee)
    try:
        # The savepoint turns a number taken at this very moment into a 409, not a 500.
        async with ctx.session.begin_nested():
            # A badge costs no fee; an expired one is renewed and stays expired.
            new = (await replace_card(ctx, old.card.id, number=number)).new
    except IntegrityError:
        raise Conflict(
            "card_number_in_use", "This badge number belongs to another card already."
        ) from None
    return BadgeReplacement(
        Badge(old.card, state_now(ctx, old.card), old.employee),
        Badge(new, state_now(ctx, new), old.employee),
    )


async def employee_by_identity(ctx: Ctx, identity_id: str) -> Patron:
    institution_id = _institution_of(ctx)
    patron = await ctx.session.scalar(
        select(Patron).where(
            Patron.institution_id == institution_id, Patron.identity_id == identity_id
        )
    )
    if patron is None:
        raise NotFound("employee_not_found", "No employee with this identity id.")
    return patron


async def link_badge(ctx: Ctx, identity_id: str, number: str) -> Badge:
    """An employee's first badge, found by their id at the identity portal. A badge they hold
    already is replaced instead (`replace_badge`), so a badge number never silently stays
    in use beside a newer one. The same badge linked again answers with it."""
    employee = await employee_by_identity(ctx, identity_id)
    badge_number = _number(number)
    existing = await _card_by_number(ctx, badge_number)
    if existing is not None:
        if existing.patron_id == employee.id and existing.kind == CardKind.EMPLOYEE_BADGE:
            return Badge(existing, state_now(ctx, existing), employee)
        raise Conflict("card_number_in_use", "This badge number belongs to another card already.")
    await _check_employee(ctx, employee)
    badges = await ctx.session.scalars(
        select(Card).where(Card.patron_id == employee.id, Card.kind == CardKind.EMPLOYEE_BADGE)
    )
    in_use = [card for card in badges if state_now(ctx, card) in IN_USE_STATES]
    if in_use:
        raise Conflict(
            "badge_exists",
            "The employee holds a badge already; report a new badge as its replacement.",
            badge=in_use[0].number,
        )
    try:
        async with ctx.session.begin_nested():
            card = await issue_card(ctx, employee.id, CardKind.EMPLOYEE_BADGE, number=badge_number)
    except IntegrityError:
        raise Conflict(
            "card_number_in_use", "This badge number belongs to another card already."
        ) from None
    return Badge(card, state_now(ctx, card), employee)
