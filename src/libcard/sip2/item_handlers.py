"""SIP2 messages about items: checkout (11), checkin (09), renew (29), renew all (65), item
information (17); item status update (19) and holds (15) are answered "no"."""

from __future__ import annotations

from datetime import datetime

from libcard.cards.texts import REFUSALS, refusal_text
from libcard.errors import LibcardError
from libcard.kit.i18n import day
from libcard.loans.models import Item, Loan
from libcard.loans.rules import is_overdue
from libcard.loans.service import (
    checkin,
    checkout,
    get_item_by_barcode,
    items_of,
    loans_of,
    open_loan_of,
    renew,
)
from libcard.policy.models import Branch
from libcard.policy.rules import Action
from libcard.sip2 import texts
from libcard.sip2.exchange import Exchange, PatronView, block_lines, clean, look_up
from libcard.sip2.fields import CirculationStatus, FeeType, SecurityMarker, write_date
from libcard.sip2.messages import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
)
from libcard.sip2.patron_handlers import pin_or_session

ITEM_TEXTS = {
    "item_not_found": texts.ITEM_UNKNOWN,
    "item_barcode": texts.ITEM_UNKNOWN,
    "item_not_loanable": texts.ITEM_NOT_LOANABLE,
    "item_on_loan": texts.ITEM_ON_LOAN,
    "item_on_loan_to_patron": texts.ITEM_ON_LOAN_TO_YOU,
    "max_renewals": texts.MAX_RENEWALS,
    "loan_not_found": texts.NO_LOAN,
    "item_not_on_loan": texts.NO_LOAN,
}


def refusal_lines(view: PatronView, error: LibcardError, action: Action) -> list[str]:
    """Why the service said no, on the machine's screen in the patron's language."""
    language = view.language
    if error.code == "blocked" and view.status is not None:
        return block_lines(view.status, view.stopping(action), language)
    if error.code in REFUSALS:
        return [refusal_text(error.code, language).replace("|", "/")]
    if error.code == "max_loans" and view.status is not None:
        return [texts.say(language, texts.MAX_LOANS, max=view.status.policy.max_loans)]
    return [texts.say(language, ITEM_TEXTS.get(error.code, texts.NOT_AVAILABLE))]


def _due(x: Exchange, loan: Loan, language: str) -> tuple[str, str]:
    """The due date for the AH field (SIP2's own date form, local time) and for the screen."""
    return write_date(x.local(loan.due_at)), day(loan.due_at, language, x.terminal.timezone)


async def _item(x: Exchange, barcode: str | None) -> Item | None:
    if not barcode or not barcode.strip():
        return None
    try:
        return await get_item_by_barcode(x.ctx, barcode, institution_id=x.terminal.institution_id)
    except LibcardError:
        return None


def _loan_response(
    cls: type[CheckoutResponse] | type[RenewResponse],
    x: Exchange,
    patron_id: str,
    item_id: str,
    *,
    ok: bool,
    renewal_ok: bool = False,
    title: str = "",
    due: str = "",
    lines: list[str],
) -> CheckoutResponse | RenewResponse:
    return cls(
        ok=ok,
        renewal_ok=renewal_ok,
        magnetic_media=None,
        desensitize=ok,  # only a lent item may leave through the gate
        transaction_date=x.local(x.now),
        institution_id=x.terminal.institution_code,
        patron_identifier=patron_id,
        item_identifier=item_id,
        title_identifier=clean(title),
        due_date=due,
        screen_messages=tuple(lines),
    )


async def do_checkout(x: Exchange, message: CheckoutRequest) -> CheckoutResponse | RenewResponse:
    view = await look_up(x, message.patron_identifier, message.patron_password)
    barcode = message.item_identifier.strip()

    def no(lines: list[str], title: str = "") -> CheckoutResponse | RenewResponse:
        return _loan_response(
            CheckoutResponse, x, message.patron_identifier, barcode, ok=False, title=title,
            lines=lines,
        )  # fmt: skip

    refused = pin_or_session(x, view)
    if refused is not None:
        return no(refused)
    item = await _item(x, barcode)
    try:
        loan = await checkout(x.ctx, view.number, barcode)
        renewed = False
    except LibcardError as error:
        if error.code == "item_on_loan_to_patron" and message.sc_renewal_policy:
            # The machine may renew through a second checkout of the same item.
            try:
                loan = await renew(
                    x.ctx, barcode, patron_id=view.status.patron.id if view.status else None,
                    institution_id=x.terminal.institution_id,
                )  # fmt: skip
                renewed = True
            except LibcardError as second:
                return no(refusal_lines(view, second, Action.RENEW), item.title if item else "")
        else:
            return no(refusal_lines(view, error, Action.BORROW), item.title if item else "")
    title = item.title if item is not None else ""
    due, shown = _due(x, loan, view.language)
    text = texts.RENEWED if renewed else texts.CHECKED_OUT
    return _loan_response(
        CheckoutResponse, x, message.patron_identifier, barcode, ok=True,
        renewal_ok=renewed, title=title, due=due,
        lines=[texts.say(view.language, text, title=clean(title), date=shown)],
    )  # fmt: skip


async def do_checkin(x: Exchange, message: CheckinRequest) -> CheckinResponse:
    language = x.language()
    barcode = message.item_identifier.strip()
    item = await _item(x, barcode)

    def answer(ok: bool, alert: bool, lines: list[str], location: str = "") -> CheckinResponse:
        return CheckinResponse(
            ok=ok,
            resensitize=True,  # whatever happened, the item is in the library again
            magnetic_media=None,
            alert=alert,
            transaction_date=x.local(x.now),
            institution_id=x.terminal.institution_code,
            item_identifier=barcode,
            permanent_location=location,
            title_identifier=clean(item.title) if item is not None else None,
            screen_messages=tuple(lines),
        )

    if item is None:
        return answer(False, True, [texts.say(language, texts.ITEM_UNKNOWN)])
    branch = await x.ctx.session.get(Branch, item.branch_id)
    location = branch.code if branch is not None else ""
    try:
        loan = await checkin(x.ctx, barcode, institution_id=x.terminal.institution_id)
    except LibcardError as error:
        text = texts.ITEM_NOT_ON_LOAN if error.code == "item_not_on_loan" else texts.NOT_AVAILABLE
        return answer(False, True, [texts.say(language, text)], location)
    late = is_overdue(loan.due_at, loan.returned_at or x.now)
    lines = [texts.say(language, texts.CHECKED_IN_LATE if late else texts.CHECKED_IN,
                       title=clean(item.title))]  # fmt: skip
    elsewhere = item.branch_id != x.terminal.branch_id
    if elsewhere and branch is not None:
        lines.append(texts.say(language, texts.OTHER_BRANCH, branch=clean(branch.name)))
    return answer(True, elsewhere, lines, location)


async def do_renew(x: Exchange, message: RenewRequest) -> RenewResponse | CheckoutResponse:
    view = await look_up(x, message.patron_identifier, message.patron_password)
    barcode = (message.item_identifier or "").strip()

    def no(lines: list[str], title: str = "") -> RenewResponse | CheckoutResponse:
        return _loan_response(
            RenewResponse, x, message.patron_identifier, barcode, ok=False, title=title,
            lines=lines,
        )  # fmt: skip

    refused = pin_or_session(x, view)
    if refused is not None or view.status is None:
        return no(refused or view.screen)
    item = await _item(x, barcode)
    if item is None:
        return no([texts.say(view.language, texts.ITEM_UNKNOWN)])
    try:
        loan = await renew(
            x.ctx, barcode, patron_id=view.status.patron.id,
            institution_id=x.terminal.institution_id,
        )  # fmt: skip
    except LibcardError as error:
        return no(refusal_lines(view, error, Action.RENEW), item.title)
    due, shown = _due(x, loan, view.language)
    return _loan_response(
        RenewResponse, x, message.patron_identifier, barcode, ok=True, renewal_ok=True,
        title=item.title, due=due,
        lines=[texts.say(view.language, texts.RENEWED, title=clean(item.title), date=shown)],
    )  # fmt: skip


async def do_renew_all(x: Exchange, message: RenewAllRequest) -> RenewAllResponse:
    view = await look_up(x, message.patron_identifier, message.patron_password)

    def answer(
        ok: bool, done: list[str], not_done: list[str], lines: list[str]
    ) -> RenewAllResponse:
        return RenewAllResponse(
            ok=ok,
            renewed_count=len(done),
            unrenewed_count=len(not_done),
            transaction_date=x.local(x.now),
            institution_id=x.terminal.institution_code,
            renewed_items=tuple(done),
            unrenewed_items=tuple(not_done),
            screen_messages=tuple(lines),
        )

    refused = pin_or_session(x, view)
    if refused is not None or view.status is None:
        return answer(False, [], [], refused or view.screen)
    done: list[str] = []
    not_done: list[str] = []
    reasons: list[str] = []
    loans = await loans_of(x.ctx, view.status.patron.id)
    items = await items_of(x.ctx, loans)
    for loan in loans:
        barcode = items[loan.item_id].barcode
        try:
            # Each refusal is raised before anything is written: the others go on.
            await renew(x.ctx, barcode, patron_id=view.status.patron.id,
                        institution_id=x.terminal.institution_id)  # fmt: skip
            done.append(barcode)
        except LibcardError as error:
            not_done.append(barcode)
            for line in refusal_lines(view, error, Action.RENEW):
                if line not in reasons:
                    reasons.append(line)
    summary = texts.say(view.language, texts.RENEWED_COUNT, renewed=len(done),
                        unrenewed=len(not_done))  # fmt: skip
    return answer(True, done, not_done, [summary, *reasons])


async def item_information(x: Exchange, message: ItemInformationRequest) -> ItemInformationResponse:
    item = await _item(x, message.item_identifier)
    barcode = message.item_identifier.strip()
    if item is None:
        return ItemInformationResponse(
            circulation_status=CirculationStatus.OTHER,
            security_marker=SecurityMarker.OTHER,
            fee_type=FeeType.OTHER,
            transaction_date=x.local(x.now),
            item_identifier=barcode,
            title_identifier="",
            screen_messages=(texts.say(x.language(), texts.ITEM_UNKNOWN),),
        )
    loan = await open_loan_of(x.ctx, item)
    branch = await x.ctx.session.get(Branch, item.branch_id)
    status = CirculationStatus.AVAILABLE if item.loanable else CirculationStatus.OTHER
    due: str | None = None
    if loan is not None:
        lost: datetime | None = getattr(loan, "lost_at", None)
        status = CirculationStatus.LOST if lost is not None else CirculationStatus.CHARGED
        due = _due(x, loan, x.language())[0]
    return ItemInformationResponse(
        circulation_status=status,
        security_marker=SecurityMarker.NONE,
        fee_type=FeeType.OTHER,
        transaction_date=x.local(x.now),
        due_date=due,
        item_identifier=item.barcode,
        title_identifier=clean(item.title),
        owner=x.terminal.institution_code,
        permanent_location=branch.code if branch is not None else None,
    )


async def item_status_update(
    x: Exchange, message: ItemStatusUpdateRequest
) -> ItemStatusUpdateResponse:
    item = await _item(x, message.item_identifier)
    return ItemStatusUpdateResponse(
        item_properties_ok=False,
        transaction_date=x.local(x.now),
        item_identifier=message.item_identifier.strip(),
        title_identifier=clean(item.title) if item is not None else None,
        screen_messages=(texts.say(x.language(), texts.PROPERTIES_NOT_KEPT),),
    )


async def hold(x: Exchange, message: HoldRequest) -> HoldResponse:
    return HoldResponse(
        ok=False,
        available=False,
        transaction_date=x.local(x.now),
        institution_id=x.terminal.institution_code,
        patron_identifier=message.patron_identifier,
        item_identifier=message.item_identifier,
        screen_messages=(texts.say(x.language(), texts.HOLDS_ELSEWHERE),),
    )
