"""Paying fees online (R16): the payment overview, the way to the provider and back, receipts.

The overview lists the open fees (all chosen), what paying them settles and which blocks it
lifts; the amount always comes from the ledger. Paying starts after a strong login when the
policy asks for one. The patron sees only their own payments: another's reference is "not
found", like one that never existed.

The provider's page is on another site. The portal's CSP allows forms to post to itself only
(`form-action 'self'`), which browsers also apply to the redirects that follow a post; so the
post leads to /pay/go on this site, and that page sends the browser on by a meta refresh,
with a link for the rare browser that does not follow it.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.blocks.rules import Block
from libcard.blocks.texts import describe
from libcard.errors import InvalidInput, LibcardError, NotFound
from libcard.kit.i18n import N_, translate
from libcard.notify.service import MailLinks
from libcard.payments.checkout import look_up, start_checkout
from libcard.payments.configured import providers_for
from libcard.payments.results import METHOD_NAMES, ONLINE, method_of
from libcard.payments.rules import OPEN_STATES, PaymentState
from libcard.payments.service import MAX_FEES, PaymentView, Preview, payment_view, preview
from libcard.runtime import Runtime
from libcard.web.portal.forms import MAX_FIELD
from libcard.web.portal.render import message_for, redirect, render
from libcard.web.portal.strong import strong_login_redirect
from libcard.web.portal.visit import Visit, patron_visit

router = APIRouter(include_in_schema=False)

PROVIDER_ORDER = ("card", "mobilepay")
PROVIDER_BUTTONS = {"card": N_("Pay with card"), "mobilepay": N_("Pay with MobilePay")}
PAY_MESSAGES: dict[str, str] = {
    "no_fees_chosen": N_("Choose at least one fee to pay."),
    "nothing_to_pay": N_("You owe nothing, so there is nothing to pay."),
    "fee_not_found": N_("A chosen fee is not on your account. Reload the page and choose again."),
    "fee_settled": N_(
        "A chosen fee has been paid meanwhile. The list below shows what you owe now."
    ),
    "too_many_fees": N_("Choose fewer fees at a time."),
    "fee_with_agency": N_(
        "A chosen fee is with the collection agency. Pay it to the agency as its letter says."
    ),
    "provider_unknown": N_("Choose one of the ways of paying below."),
    # The provider's own refusals read as on every portal page (render.MESSAGES).
    "payment_not_found": N_("There is no such payment on your account."),
}
# Why a payment did not go through, as the patron reads it on the return page.
ENDINGS = {
    PaymentState.FAILED: N_("The payment was declined or could not be carried out."),
    PaymentState.CANCELLED: N_("The payment was cancelled."),
    PaymentState.EXPIRED: N_("The payment was not finished in time."),
    PaymentState.REFUNDED: N_(
        "Your fees had been paid in another way meanwhile, so the money was given back to you."
    ),
}


def _message(error: LibcardError, language: str) -> str:
    text = PAY_MESSAGES.get(error.code)
    return translate(language, text) if text else message_for(error, language)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _described(blocks: list[Block], shown: Preview | PaymentView, language: str) -> list[object]:
    timezone = shown.institution.timezone
    return [
        {"block": block, "text": describe(block, shown.policy, language, timezone)}
        for block in blocks
    ]


def _fee_ids(values: list[str]) -> list[int]:
    if len(values) > MAX_FEES:
        raise InvalidInput("too_many_fees", "Too many fees.")
    # isascii: "²" is a digit to str.isdigit, not to int().
    if not all(value.isascii() and value.isdigit() and len(value) <= 9 for value in values):
        raise InvalidInput("fee_not_found", "A fee is a number.")
    return [int(value) for value in values]


async def _overview(
    request: Request,
    visit: Visit,
    fee_ids: list[int] | None,
    *,
    error: LibcardError | None = None,
) -> Response:
    providers = providers_for(request.app.state, _runtime(request).settings)
    try:
        async with visit.unit(readonly=True) as ctx:
            shown = await preview(ctx, visit.me, fee_ids)
    except LibcardError as refusal:
        if fee_ids is None:
            raise
        # A choice that no longer fits (paid meanwhile): the page as it stands, and why.
        return await _overview(request, visit, None, error=refusal)
    return render(
        visit,
        "portal/pay.html",
        status=error.status if error else 200,
        error=_message(error, visit.language) if error else None,
        view=shown,
        shown=shown,
        chosen={view.fee.id for view in shown.chosen},
        lifted=_described(shown.lifted, shown, visit.language),
        staying=_described(shown.staying, shown, visit.language),
        buttons=[
            (name, translate(visit.language, PROVIDER_BUTTONS[name]))
            for name in PROVIDER_ORDER
            if name in providers
        ],
    )


async def _strong_first(visit: Visit) -> Response | None:
    async with visit.unit(readonly=True) as ctx:
        shown = await preview(ctx, visit.me)
    return strong_login_redirect(visit, shown.policy, "/pay")


@router.get("/pay")
async def pay_page(request: Request) -> Response:
    visit = await patron_visit(request)
    strong = await _strong_first(visit)
    if strong is not None:
        return strong
    chosen = request.query_params.getlist("fee")
    try:
        fee_ids = _fee_ids(chosen) if chosen else None
    except LibcardError as error:
        return await _overview(request, visit, None, error=error)
    return await _overview(request, visit, fee_ids)


@router.post("/pay")
async def pay(request: Request) -> Response:
    visit = await patron_visit(request)
    form = await request.form()
    values = [v for v in form.getlist("fee") if isinstance(v, str)]
    provider = form.get("provider")
    submitted = form.get("csrf")
    try:
        visit.check_csrf(submitted if isinstance(submitted, str) else None)
        if any(len(value) > MAX_FIELD for value in values):
            raise InvalidInput("field_too_long", "A field is too long.")
        fee_ids = _fee_ids(values)
    except LibcardError as error:
        return await _overview(request, visit, None, error=error)
    strong = await _strong_first(visit)
    if strong is not None:
        return strong
    if not isinstance(provider, str) or provider == "":
        # "Show what this choice settles": the same page for the chosen fees.
        if not fee_ids:
            return await _overview(request, visit, None, error=_no_choice())
        return await _overview(request, visit, fee_ids)
    runtime = _runtime(request)
    try:
        if not fee_ids:
            raise _no_choice()
        async with visit.unit(readonly=True) as ctx:
            patron_actor = ctx.actor
        payment = await start_checkout(
            runtime,
            patron_actor,
            providers_for(request.app.state, runtime.settings),
            patron_id=visit.me,
            provider=provider[:32],
            fee_ids=fee_ids,
            language=visit.language,
            public_url=runtime.settings.public_url,
        )
    except LibcardError as error:
        return await _overview(request, visit, fee_ids or None, error=error)
    return redirect(visit, f"/pay/go?ref={payment.reference}")


def _no_choice() -> LibcardError:
    return InvalidInput("no_fees_chosen", "Choose at least one fee to pay.")


async def _payment(visit: Visit, reference: str) -> PaymentView:
    async with visit.unit(readonly=True) as ctx:
        return await payment_view(ctx, reference)


@router.get("/pay/go")
async def go_to_provider(request: Request) -> Response:
    """The step from this site to the provider's page (see the module's doc)."""
    visit = await patron_visit(request)
    shown = await _payment(visit, request.query_params.get("ref", "")[:64])
    if shown.state is not PaymentState.PENDING or not shown.payment.redirect_url:
        return redirect(visit, f"/pay/return?ref={shown.payment.reference}")
    return render(visit, "portal/pay_go.html", payment=shown.payment, view=shown)


@router.get("/pay/return")
async def return_page(request: Request) -> Response:
    """Where the provider sends the patron back. An open payment is looked up at the
    provider at once, so the page rarely has to wait for the webhook."""
    visit = await patron_visit(request)
    reference = request.query_params.get("ref", "")[:64]
    shown = await _payment(visit, reference)  # not theirs: 404 before anything else
    if shown.state in OPEN_STATES:
        runtime = _runtime(request)
        providers = providers_for(request.app.state, runtime.settings)
        with contextlib.suppress(LibcardError):  # refused and logged; the page shows the state
            await look_up(runtime, providers, reference, MailLinks(runtime.settings.public_url))
        shown = await _payment(visit, reference)
    return render(
        visit,
        "portal/pay_return.html",
        payment=shown.payment,
        shown=shown,
        view=shown,
        PaymentState=PaymentState,
        ending=translate(visit.language, ENDINGS[shown.state]) if shown.state in ENDINGS else "",
        blocks=_described(shown.fee_blocks, shown, visit.language),
        method=_method_name(shown, visit.language),
    )


@router.get("/pay/receipt/{reference}")
async def receipt_page(request: Request, reference: str) -> Response:
    visit = await patron_visit(request)
    shown = await _payment(visit, reference[:64])
    if shown.receipt is None:
        return await _not_paid(visit)
    return render(
        visit,
        "portal/pay_receipt.html",
        shown=shown,
        view=shown,
        method=_method_name(shown, visit.language),
    )


def _method_name(shown: PaymentView, language: str) -> str:
    return translate(language, METHOD_NAMES.get(method_of(shown.payment.provider), ONLINE))


async def _not_paid(visit: Visit) -> Response:
    error = NotFound("payment_not_found", "This payment has no receipt.")
    return render(visit, "portal/error.html", status=404, message=_message(error, visit.language))
