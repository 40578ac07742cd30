"""Cards: issue, look up, the borrowing decision, lost/stolen/replaced, and the PIN (R5, R6)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from libcard.access.scopes import Scope
from libcard.accounts.service import CardStatus, card_status, refusal_is_noted, replace_card
from libcard.blocks.texts import pin_lockout_lift
from libcard.cards import activation
from libcard.cards import pin as pins
from libcard.cards import service as cards
from libcard.cards.texts import refusal_text
from libcard.fees.service import fee_view
from libcard.web.api import schemas as s
from libcard.web.api.deps import Api, ApiDep, IdPath
from libcard.web.api.views import block_out, card_out, fee_out

router = APIRouter(tags=["cards"])


@router.get("/patrons/{patron_id}/cards", response_model=list[s.CardOut])
async def list_cards(api: ApiDep, patron_id: IdPath) -> list[s.CardOut]:
    async with api.unit(Scope.CARDS_READ, readonly=True) as ctx:
        return [card_out(c, cards.state_now(ctx, c)) for c in await cards.cards_of(ctx, patron_id)]


@router.post("/patrons/{patron_id}/cards", response_model=s.CardOut, status_code=201)
async def issue_card(api: ApiDep, patron_id: IdPath, body: s.CardIn) -> s.CardOut:
    """Issue a card. Students hold no physical library card by default (R4)."""
    async with api.unit(Scope.CARDS_WRITE) as ctx:
        return card_out(await cards.issue_card(ctx, patron_id, body.kind, number=body.number))


async def _status(api: Api, number: str) -> s.CardStatusOut:
    # The decision only reads; a refused card's use is logged afterwards in a unit that writes.
    async with api.unit(Scope.CARDS_STATUS, readonly=True) as ctx:
        status: CardStatus = await card_status(ctx, number, note_refusal=False)
        noted = refusal_is_noted(ctx, status.state)
        institution = status.institution
        language = api.language(status.patron.preferred_language or institution.default_language)
        refusal = None
        if status.refusal is not None:
            refusal = s.Refusal(code=status.refusal, message=refusal_text(status.refusal, language))
        answer = s.CardStatusOut(
            card=card_out(status.card, status.state),
            patron=s.StatusPatron(
                id=status.patron.id,
                name=f"{status.patron.first_name} {status.patron.last_name}",
                group=status.group.code,
                institution_id=status.patron.institution_id,
            ),
            usable=status.refusal is None,
            refusal=refusal,
            blocks=[
                block_out(b, status.policy, language, institution.timezone) for b in status.blocks
            ],
            may=status.may,
            balance=s.Money.of(status.balance_minor, status.policy.currency),
            language=language,
        )
    if noted:
        async with api.unit(Scope.CARDS_STATUS) as ctx:
            await cards.note_refused_use(ctx, await cards.get_card(ctx, status.card.id), "status")
    return answer


@router.get("/cards/{number}/status", response_model=s.CardStatusOut)
async def get_card_status(api: ApiDep, number: str) -> s.CardStatusOut:
    """Who is this card, and may they borrow, renew, place holds, use digital services?

    Blocks come with their reason and the step that lifts them in the `Accept-Language`
    language (da, de, en).
    """
    return await _status(api, number)


@router.post("/cards/status", response_model=s.CardStatusOut)
async def post_card_status(api: ApiDep, body: s.CardNumberIn) -> s.CardStatusOut:
    """The same decision with the number in the body: use this for health cards, whose numbers
    are national id numbers and do not belong in URLs or access logs."""
    return await _status(api, body.number)


@router.get("/cards/{number}", response_model=s.CardOut)
async def get_card(api: ApiDep, number: str) -> s.CardOut:
    async with api.unit(Scope.CARDS_READ, readonly=True) as ctx:
        card = await cards.find_card(ctx, number)
        return card_out(card, cards.state_now(ctx, card))


@router.post("/cards/{number}/report-lost", response_model=s.CardOut)
async def report_lost(api: ApiDep, number: str) -> s.CardOut:
    """R10: the number is refused from now on; the e-card and other cards keep working."""
    async with api.unit(Scope.CARDS_WRITE) as ctx:
        card = await cards.find_card(ctx, number)
        return card_out(await cards.report_lost(ctx, card.id))


@router.post("/cards/{number}/mark-stolen", response_model=s.CardOut)
async def mark_stolen(api: ApiDep, number: str, body: s.PhotoIdIn) -> s.CardOut:
    """R12: the desk marks a card stolen with the patron present and their photo ID seen."""
    async with api.unit(Scope.CARDS_WRITE) as ctx:
        card = await cards.find_card(ctx, number)
        return card_out(await cards.mark_stolen(ctx, card.id, body.photo_id_kind, body.note))


@router.post("/cards/{number}/replace", response_model=s.ReplacementOut, status_code=201)
async def replace(api: ApiDep, number: str, body: s.ReplaceIn) -> s.ReplacementOut:
    """R11: a new card; the group's replacement fee is charged when policy sets one."""
    async with api.unit(Scope.CARDS_WRITE) as ctx:
        card = await cards.find_card(ctx, number)
        result = await replace_card(ctx, card.id, number=body.number)
        fee = fee_out(await fee_view(ctx, result.fee)) if result.fee else None
        return s.ReplacementOut(old=card_out(result.old), new=card_out(result.new), fee=fee)


def _pin_answer(api: Api, check: pins.PinCheck) -> s.PinVerifyOut:
    message = None
    language = api.language("en")
    if check.card_state.value != "active":
        message = refusal_text(f"card_{check.card_state.value}", language)
    elif check.locked:
        message = pin_lockout_lift(language)
    return s.PinVerifyOut(
        valid=check.valid,
        locked=check.locked,
        attempts_left=check.attempts_left,
        card_state=check.card_state.value,
        message=message,
    )


@router.post("/cards/{number}/pin/verify", response_model=s.PinVerifyOut)
async def verify_pin(api: ApiDep, number: str, body: s.PinVerifyIn) -> s.PinVerifyOut:
    """Check a PIN (R5). After the policy's number of wrong PINs in a row the account locks
    (R6), and from then on even the right PIN answers `valid: false`."""
    async with api.unit(Scope.PIN_VERIFY) as ctx:
        return _pin_answer(api, await pins.verify_pin(ctx, number, body.pin))


@router.post("/cards/{number}/activate", response_model=s.PinVerifyOut)
async def activate_card(api: ApiDep, number: str, body: s.CardActivationIn) -> s.PinVerifyOut:
    """Activate a card that arrived after the account was activated (a student ID, a badge, a
    card by post): the patron gives the account's PIN — a wrong one counts towards the
    lockout — or desk staff record the photo ID they saw (R1)."""
    async with api.unit(Scope.ACTIVATION) as ctx:
        check = await activation.activate_card(
            ctx, number, pin=body.pin, photo_id_kind=body.photo_id_kind
        )
        return _pin_answer(api, check)


@router.post("/patrons/{patron_id}/pin", status_code=204)
async def change_pin(api: ApiDep, patron_id: IdPath, body: s.PinChangeIn) -> Response:
    """Change the PIN, proven by the account password (R5)."""
    async with api.unit(Scope.PIN_CHANGE) as ctx:
        await pins.change_pin(ctx, patron_id, body.password, body.new_pin)
    return Response(status_code=204)


@router.post("/patrons/{patron_id}/pin/unlock", status_code=204)
async def unlock_pin(api: ApiDep, patron_id: IdPath, body: s.PhotoIdIn) -> Response:
    """R6: staff lift a PIN lockout after checking a valid photo ID; its kind is recorded."""
    async with api.unit(Scope.PIN_UNLOCK) as ctx:
        await pins.unlock_pin(ctx, patron_id, body.photo_id_kind, body.note)
    return Response(status_code=204)
