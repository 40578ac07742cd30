"""Fees and payments: charge, pay (oldest first, idempotent), waive, refund; blocks lift at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from libcard.access.scopes import Scope
from libcard.errors import InvalidInput
from libcard.fees import service as fees
from libcard.patrons.service import get_patron, patron_policy
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath
from libcard.web.api.views import account_blocks_out, fee_out

router = APIRouter(tags=["fees"])


@router.get("/patrons/{patron_id}/fees", response_model=s.AccountFees)
async def list_fees(api: ApiDep, patron_id: IdPath) -> s.AccountFees:
    async with api.unit(Scope.FEES_READ, readonly=True) as ctx:
        policy = await patron_policy(ctx, await get_patron(ctx, patron_id))
        ledger = await fees.ledger_of(ctx, patron_id)
        return s.AccountFees(
            balance=s.Money.of(ledger.balance_minor, policy.currency),
            fees=[fee_out(v) for v in ledger.views],
        )


@router.post("/patrons/{patron_id}/fees", response_model=s.FeeOut, status_code=201)
async def charge(api: ApiDep, patron_id: IdPath, body: s.ChargeIn) -> s.FeeOut:
    async with api.unit(Scope.FEES_WRITE) as ctx:
        fee = await fees.charge(
            ctx,
            patron_id,
            body.type,
            body.amount_minor,
            body.description,
            item_barcode=body.item_barcode,
        )
        return fee_out(await fees.fee_view(ctx, fee))


@router.post("/fees/{fee_id}/waive", response_model=s.FeeOut)
async def waive(api: ApiDep, fee_id: IdPath, body: s.FeeActionIn) -> s.FeeOut:
    async with api.unit(Scope.FEES_WRITE) as ctx:
        return fee_out(await fees.waive(ctx, fee_id, body.reason, body.amount_minor))


@router.post("/fees/{fee_id}/refund", response_model=s.FeeOut)
async def refund(api: ApiDep, fee_id: IdPath, body: s.FeeActionIn) -> s.FeeOut:
    async with api.unit(Scope.FEES_WRITE) as ctx:
        return fee_out(await fees.refund(ctx, fee_id, body.reason, body.amount_minor))


@router.post("/patrons/{patron_id}/payments", response_model=s.PaymentOut, status_code=201)
async def pay(
    api: ApiDep,
    patron_id: IdPath,
    body: s.PaymentIn,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> s.PaymentOut:
    """Record a payment and settle open fees oldest first (or only `fee_ids`). Blocks it
    settles are gone in the same transaction: the answer lists those that still hold.

    Send the same `Idempotency-Key` (header or body) when retrying: one payment is recorded.
    """
    key = body.idempotency_key or idempotency_key
    if not key:
        raise InvalidInput(
            "idempotency_key_required", "Send an Idempotency-Key so a retry cannot pay twice."
        )
    async with api.unit(Scope.PAYMENTS_WRITE) as ctx:
        payment = await fees.pay(
            ctx,
            patron_id,
            body.amount_minor,
            method=body.method,
            idempotency_key=key,
            reference=body.reference,
            fee_ids=body.fee_ids,
            currency=body.currency,
        )
        found, balance = await account_blocks_out(api, ctx, patron_id)
        return s.PaymentOut(
            id=payment.id,
            amount=s.Money.of(payment.amount_minor, payment.currency),
            method=payment.method,
            reference=payment.reference,
            created_at=payment.created_at,
            balance=s.Money.of(balance, payment.currency),
            blocks=[out for _, out in found],
        )
