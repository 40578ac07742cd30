"""SIP2 messages about a patron: status (23), information (63), block (01), enable (25),
end of session (35) and fee paid (37)."""

from __future__ import annotations

from libcard.blocks.service import retain_card
from libcard.errors import LibcardError
from libcard.fees.rules import PaymentMethod
from libcard.fees.service import fee_views, pay
from libcard.kit.i18n import money
from libcard.kit.money import format_minor, parse_amount
from libcard.loans.rules import is_overdue, normalise_decimal
from libcard.loans.service import items_of, loans_of
from libcard.policy.rules import Action
from libcard.sip2 import texts
from libcard.sip2.exchange import Exchange, PatronView, block_lines, clean, look_up
from libcard.sip2.fields import Language, Summary
from libcard.sip2.messages import (
    BlockPatronRequest,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
)


def _language_code(view: PatronView) -> int:
    return texts.LANGUAGE_CODES.get(view.language, Language.UNKNOWN)


def status_response(x: Exchange, request_id: str, view: PatronView) -> PatronStatusResponse:
    return PatronStatusResponse(
        patron_status=view.privileges(),
        language=_language_code(view),
        transaction_date=x.local(x.now),
        institution_id=x.terminal.institution_code,
        patron_identifier=request_id,
        personal_name=clean(view.name),
        valid_patron=view.known,
        valid_patron_password=view.password_flag(),
        currency_type=view.currency(),
        fee_amount=view.fee_amount(),
        screen_messages=tuple(view.screen),
    )


async def patron_status(x: Exchange, message: PatronStatusRequest) -> PatronStatusResponse:
    view = await look_up(x, message.patron_identifier, message.patron_password, message.language)
    return status_response(x, message.patron_identifier, view)


def _window(start: str | None, end: str | None, items: list[str]) -> list[str]:
    """BP/BQ: the 1-based positions of the list the machine wants (all when not given)."""
    first = int(start) if start and start.strip().isdigit() else 1
    last = int(end) if end and end.strip().isdigit() else len(items)
    return items[max(first, 1) - 1 : max(last, 0)]


async def patron_information(
    x: Exchange, message: PatronInformationRequest
) -> PatronInformationResponse:
    view = await look_up(x, message.patron_identifier, message.patron_password, message.language)
    verified = x.session.verified_card == view.number and view.usable
    loans = await loans_of(x.ctx, view.status.patron.id) if view.status else []
    overdue = [loan for loan in loans if is_overdue(loan.due_at, x.now)]
    fees = await fee_views(x.ctx, view.status.patron.id) if view.status else []
    open_fees = [fee for fee in fees if fee.status.outstanding_minor > 0]
    charged_items: tuple[str, ...] = ()
    overdue_items: tuple[str, ...] = ()
    fine_items: tuple[str, ...] = ()
    summary: Summary = message.summary
    # Which books someone borrowed is theirs to know: lists only after the right PIN.
    if verified and view.status is not None:
        items = await items_of(x.ctx, loans)
        barcodes = {loan.id: items[loan.item_id].barcode for loan in loans}
        currency = view.status.policy.currency
        if summary.charged_items:
            charged_items = tuple(_window(message.start_item, message.end_item, [
                barcodes[loan.id] for loan in loans
            ]))  # fmt: skip
        if summary.overdue_items:
            overdue_items = tuple(_window(message.start_item, message.end_item, [
                barcodes[loan.id] for loan in overdue
            ]))  # fmt: skip
        if summary.fine_items:
            fine_items = tuple(_window(message.start_item, message.end_item, [
                clean(f"{fee.fee.id} {format_minor(fee.status.outstanding_minor, currency)} "
                      f"{currency} {fee.fee.description}")
                for fee in open_fees
            ]))  # fmt: skip
    patron = view.status.patron if view.status is not None else None
    address = (
        clean(
            ", ".join(
                p
                for p in (patron.street, " ".join(filter(None, (patron.postal_code, patron.city))))
                if p
            )
        )
        if patron is not None and verified
        else None
    )
    return PatronInformationResponse(
        patron_status=view.privileges(),
        language=_language_code(view),
        transaction_date=x.local(x.now),
        hold_items_count=0,
        overdue_items_count=len(overdue),
        charged_items_count=len(loans),
        fine_items_count=len(open_fees),
        recall_items_count=0,
        unavailable_holds_count=0,
        institution_id=x.terminal.institution_code,
        patron_identifier=message.patron_identifier,
        personal_name=clean(view.name),
        charged_items_limit=view.status.policy.max_loans if view.status else None,
        valid_patron=view.known,
        valid_patron_password=view.password_flag(),
        currency_type=view.currency(),
        fee_amount=view.fee_amount(),
        charged_items=charged_items,
        overdue_items=overdue_items,
        fine_items=fine_items,
        home_address=address or None,
        email_address=clean(patron.email) or None if patron is not None and verified else None,
        home_phone_number=clean(patron.phone) or None if patron is not None and verified else None,
        screen_messages=tuple(view.screen),
    )


async def block_patron(x: Exchange, message: BlockPatronRequest) -> PatronStatusResponse:
    """01: the machine found the card misused (and perhaps kept it). The account is blocked
    until the desk lifts it; the desk sees the machine, its branch and its message."""
    view = await look_up(x, message.patron_identifier, None)
    if view.card is not None and view.status is not None:
        # The machine's own words, as it sent them: the desk reads where and why.
        kept = "card kept" if message.card_retained else "card not kept"
        where = (
            f"{x.terminal.name} ({x.terminal.branch_code}), {kept}: "
            f"{clean(message.blocked_card_msg) or '-'}"
        )
        await retain_card(x.ctx, view.card.id, where)
        x.session.forget_patron()
        view = await look_up(x, message.patron_identifier, None)
        if message.card_retained:
            view.screen.insert(0, texts.say(view.language, texts.CARD_KEPT))
    return status_response(x, message.patron_identifier, view)


async def patron_enable(x: Exchange, message: PatronEnableRequest) -> PatronEnableResponse:
    """25: libcard lifts no block on a machine's word; the answer says what still holds and
    how to lift it."""
    view = await look_up(x, message.patron_identifier, message.patron_password)
    return PatronEnableResponse(
        patron_status=view.privileges(),
        language=_language_code(view),
        transaction_date=x.local(x.now),
        institution_id=x.terminal.institution_code,
        patron_identifier=message.patron_identifier,
        personal_name=clean(view.name),
        valid_patron=view.known,
        valid_patron_password=view.password_flag(),
        screen_messages=tuple(view.screen),
    )


async def end_session(x: Exchange, message: EndPatronSessionRequest) -> EndSessionResponse:
    x.session.forget_patron()
    return EndSessionResponse(
        end_session=True,
        transaction_date=x.local(x.now),
        institution_id=x.terminal.institution_code,
        patron_identifier=message.patron_identifier,
    )


async def fee_paid(x: Exchange, message: FeePaidRequest) -> FeePaidResponse:
    """37: money taken at the machine settles the oldest fees (or the one named in CG), and
    the blocks it settles lift in the same unit of work."""
    view = await look_up(x, message.patron_identifier, message.patron_password)

    def answer(accepted: bool, lines: list[str]) -> FeePaidResponse:
        return FeePaidResponse(
            payment_accepted=accepted,
            transaction_date=x.local(x.now),
            institution_id=x.terminal.institution_code,
            patron_identifier=message.patron_identifier,
            transaction_id=message.transaction_id,
            screen_messages=tuple(lines),
        )

    status = view.status
    if status is None or (view.pin_given and not view.pin_ok):
        return answer(False, view.screen)
    language, currency = view.language, status.policy.currency
    # No "nothing owed" answer before trying: a resent payment that settled everything must
    # be answered as accepted again, and `pay` recognises it by its key.
    try:
        amount = parse_amount(normalise_decimal(message.fee_amount) or "", currency)
        fee_ids = None
        if message.fee_identifier and message.fee_identifier.strip().isdigit():
            fee_ids = [int(message.fee_identifier.strip())]
        # A machine resending after a lost answer sends the same transaction: one payment.
        reference = message.transaction_id or (
            f"{message.transaction_date:%Y%m%d%H%M%S}-{message.fee_amount}"
        )
        await pay(
            x.ctx,
            status.patron.id,
            amount,
            method=PaymentMethod.SELF_CHECKOUT,
            idempotency_key=f"sip2:{x.terminal.id}:{message.patron_identifier}:{reference}"[:200],
            reference=message.transaction_id,
            fee_ids=fee_ids,
            currency=message.currency_type.strip() or None,
        )
    except LibcardError as error:
        if error.code == "overpayment" and status.balance_minor <= 0:
            return answer(False, [texts.say(language, texts.NOTHING_OWED)])
        if error.code == "overpayment":
            owed = money(status.balance_minor, currency, language)
            return answer(False, [texts.say(language, texts.OVERPAYMENT, owed=owed)])
        return answer(False, [texts.say(language, texts.PAYMENT_REFUSED)])
    after = await look_up(x, message.patron_identifier, None)
    lines = [texts.say(language, texts.PAYMENT_TAKEN, amount=money(amount, currency, language))]
    if view.stopping(Action.BORROW) and not after.stopping(Action.BORROW):
        lines.append(texts.say(language, texts.PAYMENT_LIFTED))
    elif after.status is not None:
        lines.extend(block_lines(after.status, after.status.blocks, language))
    return answer(True, lines)


def pin_or_session(x: Exchange, view: PatronView) -> list[str] | None:
    """Why the patron may not go on (the screen lines), or None: the PIN was given right now
    or earlier on this connection for this card."""
    if view.status is None:
        return view.screen
    if view.pin_given:
        return None if view.pin_ok and view.usable else view.screen
    if x.session.verified_card == view.number and view.usable:
        return None
    if not view.usable:
        return view.screen
    return [*view.screen, texts.say(view.language, texts.PIN_NEEDED)]
