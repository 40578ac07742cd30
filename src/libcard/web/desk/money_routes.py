"""Money at the desk: a patron's fees and the blocks they cause, taking a payment (cash or the
card terminal) with its printable receipt, and waiving or refunding a fee (supervisors)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.portal import AccountView, account_view
from libcard.blocks.rules import Block
from libcard.blocks.texts import BlockText, describe
from libcard.context import Ctx
from libcard.errors import InvalidInput, LibcardError
from libcard.fees.receipts import fee_history, receipt_of
from libcard.fees.rules import PaymentMethod
from libcard.fees.service import FeeView, get_fee, pay, refund, waive
from libcard.kit.i18n import N_, money, translate
from libcard.kit.money import CURRENCY_EXPONENTS, parse_amount
from libcard.kit.secrets import new_token
from libcard.patrons.service import get_patron, patron_policy
from libcard.policy.rules import BlockCode
from libcard.staff.roles import StaffRole
from libcard.web.api.deps import IdPath
from libcard.web.desk.render import add_messages, error_page, message_for, redirect, render
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.portal.forms import read_form

router = APIRouter(include_in_schema=False)

# Every way money can arrive, for receipts; the desk itself takes only the first two.
METHOD_LABELS: dict[str, str] = {
    PaymentMethod.CASH: N_("Cash"),
    PaymentMethod.CARD_TERMINAL: N_("Card terminal"),
    PaymentMethod.ONLINE_CARD: N_("Payment card online"),
    PaymentMethod.MOBILEPAY: N_("MobilePay"),
    PaymentMethod.SELF_CHECKOUT: N_("Self-checkout machine"),
    PaymentMethod.AGENCY: N_("Collection agency"),
    PaymentMethod.BANK_TRANSFER: N_("Bank transfer"),
    PaymentMethod.OTHER: N_("Other"),
}
DESK_METHODS = (PaymentMethod.CASH, PaymentMethod.CARD_TERMINAL)
ACTION_LABELS = {"payment": N_("Payment"), "waiver": N_("Waiver"), "refund": N_("Refund")}
# The blocks that fees cause; the patron page shows the others.
FEE_BLOCKS = frozenset(
    {BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID, BlockCode.IN_COLLECTION}
)
DONE = {
    "waived": N_("The fee is waived."),
    "refunded": N_("The refund is recorded. Give the money back to the patron."),
}
OVERPAYMENT_OWED = N_("The payment is more than the %(owed)s owed. Take at most %(owed)s.")
NOTE_LENGTH = 200  # what a payment keeps as its reference

add_messages(
    {
        "amount_format": N_("Write the amount as a number, like 50 or 50,00."),
        "amount": N_("The amount must be above zero and below a million."),
        "overpayment": N_("The payment is more than what is owed."),
        "payment_method": N_("Choose how the patron pays: cash or card terminal."),
        "forbidden_payment": N_("Your role may not take payments."),
        "forbidden_waive": N_("Only a supervisor or an administrator may waive fees."),
        "forbidden_refund": N_("Only a supervisor or an administrator may refund fees."),
        "waiver_too_large": N_("A waiver cannot be more than what is still owed on the fee."),
        "refund_too_large": N_(
            "A refund cannot be more than what was paid for the fee and not refunded yet."
        ),
        "nothing_to_refund": N_("Nothing has been paid for this fee, so nothing can be refunded."),
        "fee_settled": N_("Nothing is owed on this fee any more, so nothing can be waived."),
        "idempotency_key_reused": N_(
            "This form was sent before with other values. Open the fees page again to take "
            "a new payment."
        ),
        "idempotency_key": N_("This form is incomplete. Open the fees page again."),
        "reason_required": N_("Give a reason; it is kept in the account's history."),
        "fee_not_found": N_("There is no such fee on this account."),
        "payment_not_found": N_("There is no such payment."),
        "note_too_long": N_("The note is too long: at most 200 characters."),
    }
)

_TYPED_AMOUNT = re.compile(r"(\d{1,9})(?:[.,](\d+))?")


def parse_typed_amount(text: str, currency: str) -> int:
    """An amount as the patron says it, in major units: "50", "50,00" or "50.00" → minor units.
    Thousands separators, signs and more decimals than the currency has are refused."""
    found = _TYPED_AMOUNT.fullmatch(text.strip())
    if found is None or len(found.group(2) or "") > CURRENCY_EXPONENTS[currency]:
        raise InvalidInput("amount_format", f"{text!r} is not an amount in {currency}.")
    return parse_amount(text.strip().replace(",", "."), currency)


def _method(value: str) -> PaymentMethod:
    if value not in DESK_METHODS:
        raise InvalidInput("payment_method", "The desk takes cash or the card terminal.")
    return PaymentMethod(value)


def _chosen_fees(values: Mapping[str, str]) -> list[int] | None:
    """The fees ticked on the form (checkboxes `settle-<fee id>`); none: oldest first."""
    chosen = [
        int(name.removeprefix("settle-"))
        for name in values
        if name.startswith("settle-") and name.removeprefix("settle-").isdigit()
    ]
    return chosen or None


@dataclass(frozen=True)
class BlockShown:
    block: Block
    text: BlockText


def _error_text(visit: DeskVisit, error: LibcardError, currency: str) -> str:
    owed = error.details.get("owed_minor")
    if error.code == "overpayment" and isinstance(owed, int):
        return translate(
            visit.language, OVERPAYMENT_OWED, owed=money(owed, currency, visit.language)
        )
    return message_for(error, visit.language)


async def _fees_page(
    visit: DeskVisit,
    patron_id: int,
    *,
    error: LibcardError | None = None,
    error_form: str | None = None,
    submitted: Mapping[str, str] | None = None,
    done: str | None = None,
) -> Response:
    try:
        async with visit.unit(readonly=True) as ctx:
            view = await account_view(ctx, patron_id)
            history = await fee_history(ctx, patron_id)
    except LibcardError as refusal:
        return error_page(visit, refusal)
    timezone = view.institution.timezone
    shown = [
        BlockShown(block, describe(block, view.policy, visit.language, timezone))
        for block in view.blocks
        if block.code in FEE_BLOCKS
    ]
    views: list[FeeView] = view.ledger.views
    return render(
        visit,
        "desk/fees.html",
        status=error.status if error else 200,
        error=_error_text(visit, error, view.policy.currency) if error else None,
        error_code=error.code if error else None,
        error_form=error_form,
        submitted=submitted or {},
        view=view,
        card=_card_number(view),
        fee_blocks=shown,
        fees=views,
        open_fees=[v for v in views if v.status.outstanding_minor > 0],
        history=history,
        methods=[(m.value, METHOD_LABELS[m]) for m in DESK_METHODS],
        method_labels=METHOD_LABELS,
        action_labels=ACTION_LABELS,
        # A new key for every form shown: a double click or a resent form records one payment.
        idempotency_key=new_token(16),
        done=DONE.get(done or ""),
    )


def _card_number(view: AccountView) -> str | None:
    ecard = view.ecard
    return ecard.card.number if ecard else None


@router.get("/desk/patrons/{patron_id}/fees")
async def fees_page(request: Request, patron_id: IdPath) -> Response:
    visit = await staff_visit(request)
    return await _fees_page(visit, patron_id, done=request.query_params.get("done"))


@router.post("/desk/patrons/{patron_id}/payments")
async def take_payment(request: Request, patron_id: IdPath) -> Response:
    """Any staff role takes money; it settles the ticked fees, or the oldest first."""
    visit = await staff_visit(request)
    form = await read_form(request)
    note = form.get("note").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        method = _method(form.get("method"))
        if len(note) > NOTE_LENGTH:
            raise InvalidInput("note_too_long", "A payment's note has at most 200 characters.")
        async with visit.unit(reason=note) as ctx:
            policy = await patron_policy(ctx, await get_patron(ctx, patron_id))
            payment = await pay(
                ctx,
                patron_id,
                parse_typed_amount(form.get("amount"), policy.currency),
                method=method,
                idempotency_key=form.get("idempotency_key"),
                reference=note or None,
                fee_ids=_chosen_fees(form.values),
            )
    except LibcardError as error:
        return await _fees_page(
            visit, patron_id, error=error, error_form="payment", submitted=form.values
        )
    return redirect(visit, f"/desk/payments/{payment.id}/receipt?done=paid")


StaffFeeAction = Callable[[Ctx, int, str, int | None], Awaitable[FeeView]]


async def _fee_action(request: Request, fee_id: int, name: str, action: StaffFeeAction) -> Response:
    """Waive or refund (supervisors and admins): the amount typed, or all there is room for."""
    visit = await staff_visit(request)
    form = await read_form(request)
    reason = form.get("reason").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        visit.require(StaffRole.SUPERVISOR)
        async with visit.unit(reason=reason) as ctx:
            fee = await get_fee(ctx, fee_id)
            typed = form.get("amount").strip()
            amount = parse_typed_amount(typed, fee.currency) if typed else None
            await action(ctx, fee.id, reason, amount)
            patron_id = fee.patron_id
    except LibcardError as error:
        return await _refused(visit, fee_id, error, f"{name}-{fee_id}", form.values)
    done = "waived" if name == "waive" else "refunded"
    return redirect(visit, f"/desk/patrons/{patron_id}/fees?done={done}")


async def _refused(
    visit: DeskVisit,
    fee_id: int,
    error: LibcardError,
    form_name: str,
    submitted: Mapping[str, str],
) -> Response:
    """The fees page of the fee's patron with the refusal; a fee not visible answers 404."""
    try:
        async with visit.unit(readonly=True) as ctx:
            fee = await get_fee(ctx, fee_id)
    except LibcardError as refusal:
        return error_page(visit, refusal)
    return await _fees_page(
        visit, fee.patron_id, error=error, error_form=form_name, submitted=submitted
    )


@router.post("/desk/fees/{fee_id}/waive")
async def waive_fee(request: Request, fee_id: IdPath) -> Response:
    return await _fee_action(request, fee_id, "waive", waive)


@router.post("/desk/fees/{fee_id}/refund")
async def refund_fee(request: Request, fee_id: IdPath) -> Response:
    return await _fee_action(request, fee_id, "refund", refund)


@router.get("/desk/payments/{payment_id}/receipt")
async def receipt_page(request: Request, payment_id: IdPath) -> Response:
    visit = await staff_visit(request)
    try:
        async with visit.unit(readonly=True) as ctx:
            receipt = await receipt_of(ctx, payment_id)
            view = await account_view(ctx, receipt.patron.id)
    except LibcardError as error:
        return error_page(visit, error)
    return render(
        visit,
        "desk/receipt.html",
        receipt=receipt,
        payment=receipt.payment,
        view=view,
        card=_card_number(view),
        method_labels=METHOD_LABELS,
        done=request.query_params.get("done") == "paid",
    )
