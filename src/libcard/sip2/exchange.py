"""What every SIP2 handler works with: the unit of work, the connection, the machine, and the
patron a card belongs to, judged once per message (PIN, card state, blocks, privileges)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from libcard.accounts.service import CardStatus, find_holding, status_of
from libcard.blocks.rules import Block
from libcard.blocks.texts import describe
from libcard.cards.models import Card
from libcard.cards.pin import PinCheck, check_account_pin
from libcard.cards.rules import CardState
from libcard.cards.service import state_now
from libcard.cards.texts import REFUSALS, refusal_text
from libcard.context import Ctx
from libcard.errors import InvalidInput, NotFound, RuleViolation
from libcard.kit.money import format_minor
from libcard.loans.service import count_open_loans
from libcard.policy.rules import Action, BlockCode
from libcard.sip2 import texts
from libcard.sip2.fields import PatronStatus
from libcard.sip2.server import Sip2Session, TerminalLogin

FEE_BLOCKS = frozenset(
    {BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID, BlockCode.IN_COLLECTION}
)
LOST = frozenset({CardState.LOST, CardState.STOLEN})
# Everything denied: for a card nobody knows, and for one that cannot be used at all.
ALL_DENIED = PatronStatus(
    charge_privileges_denied=True,
    renewal_privileges_denied=True,
    recall_privileges_denied=True,
    hold_privileges_denied=True,
)


@dataclass
class Exchange:
    """One message's work: `ctx` is its unit of work, as the terminal."""

    ctx: Ctx
    session: Sip2Session
    terminal: TerminalLogin

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    def local(self, moment: datetime) -> datetime:
        """`moment` as the machine's wall clock shows it: SIP2 dates are local time."""
        return moment.astimezone(ZoneInfo(self.terminal.timezone)).replace(tzinfo=None)

    def language(self, code: int = 0, patron_language: str | None = None) -> str:
        return texts.language_of(
            code, self.terminal.language, patron_language, self.terminal.default_language
        )


@dataclass
class PatronView:
    """A card as a self-checkout machine must see it."""

    number: str
    card: Card | None
    status: CardStatus | None
    pin: PinCheck | None  # None: no PIN was given (or the card could not take one)
    pin_given: bool
    language: str
    screen: list[str]
    open_loans: int = 0

    @property
    def known(self) -> bool:
        return self.status is not None

    @property
    def pin_ok(self) -> bool:
        return self.pin is not None and self.pin.valid

    @property
    def name(self) -> str:
        if self.status is None:
            return ""
        return f"{self.status.patron.first_name} {self.status.patron.last_name}".strip()

    @property
    def usable(self) -> bool:
        return self.status is not None and self.status.refusal is None

    def may(self, action: Action) -> bool:
        return self.status is not None and self.status.may[action]

    def stopping(self, action: Action) -> list[Block]:
        if self.status is None:
            return []
        return [block for block in self.status.blocks if action in block.effects]

    def privileges(self) -> PatronStatus:
        """The 14 "Y/blank" flags: what the account may do and why not."""
        status = self.status
        if status is None:
            return ALL_DENIED
        codes = {block.code for block in status.blocks}
        return PatronStatus(
            charge_privileges_denied=not status.may[Action.BORROW],
            renewal_privileges_denied=not status.may[Action.RENEW],
            recall_privileges_denied=not status.may[Action.HOLD],
            hold_privileges_denied=not status.may[Action.HOLD],
            card_reported_lost=status.state in LOST,
            too_many_items_charged=self.open_loans >= status.policy.max_loans,
            excessive_outstanding_fines=BlockCode.FEE_THRESHOLD in codes,
            excessive_outstanding_fees=bool(codes & FEE_BLOCKS),
            too_many_items_billed=BlockCode.REPLACEMENT_UNPAID in codes,
        )

    def fee_amount(self) -> str | None:
        if self.status is None:
            return None
        return format_minor(self.status.balance_minor, self.status.policy.currency)

    def currency(self) -> str | None:
        return self.status.policy.currency if self.status is not None else None

    def password_flag(self) -> bool | None:
        """CQ: sent whenever the machine sent a PIN; never Y for a card that cannot be used."""
        if not self.pin_given:
            return None
        return self.pin_ok and self.usable


async def look_up(x: Exchange, number: str, pin: str | None, language_code: int = 0) -> PatronView:
    """The card `number` with `pin` checked (wrong ones counted, R6) and its blocks read after
    the check, so that the lockout a wrong PIN just caused is already among them."""
    number = number.strip()
    pin_given = pin is not None and pin != ""
    try:
        # Card, patron, group, institution and policy in one query; the PIN check, the
        # status and the loan count below reuse them rather than read them again.
        holding = await find_holding(x.ctx, number)
    except (NotFound, InvalidInput):
        language = x.language(language_code)
        return PatronView(
            number, None, None, None, pin_given, language, [texts.say(language, texts.UNKNOWN_CARD)]
        )
    card = holding.card
    check: PinCheck | None = None
    pin_unset = False
    state = state_now(x.ctx, card)
    if pin_given and state is CardState.ACTIVE:
        try:
            check = await check_account_pin(x.ctx, card, state, pin or "", policy=holding.policy)
        except RuleViolation:
            pin_unset = True
    status = await status_of(x.ctx, holding)
    language = x.language(language_code, status.patron.preferred_language)
    view = PatronView(number, card, status, check, pin_given, language, [])
    view.open_loans = await count_open_loans(x.ctx, status.patron.id)
    view.screen = _screen(view, pin_unset)
    if view.pin_ok and view.usable:
        x.session.verified_card = number
    elif pin_given:
        x.session.forget_patron()
    return view


def _screen(view: PatronView, pin_unset: bool) -> list[str]:
    status, language = view.status, view.language
    assert status is not None
    lines: list[str] = []
    if status.refusal is not None and status.refusal in REFUSALS:
        lines.append(refusal_text(status.refusal, language).replace("|", "/"))
    if pin_unset:
        lines.append(texts.say(language, texts.PIN_NOT_SET))
    elif view.pin is not None and not view.pin.valid and not view.pin.locked:
        left = view.pin.attempts_left
        message = texts.PIN_WRONG_LAST if left == 1 else texts.PIN_WRONG
        lines.append(texts.say(language, message, left=left))
    lines.extend(block_lines(status, status.blocks, language))
    return lines


def block_lines(status: CardStatus, blocks: list[Block], language: str) -> list[str]:
    """One screen line per block: what it is, why, and the step that lifts it."""
    lines = []
    for block in blocks:
        text = describe(block, status.policy, language, status.institution.timezone)
        lines.append(" ".join(" ".join((text.title + ".", text.reason, text.lift)).split()))
    return [line.replace("|", "/") for line in lines]


def clean(text: str | None) -> str:
    """A stored text (a title, a name) made safe for a SIP2 field."""
    return " ".join((text or "").replace("|", "/").split())
