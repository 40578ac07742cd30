"""The patron's e-card in Apple Wallet and Google Wallet, from "My card" (R3).

There is no card id in these paths: each answers the pass of the logged-in patron's own
e-card in use, so no patron can ask for another's. Both record the pass as handed out (a
unit that writes), so that later changes to the card reach it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.errors import NotFound
from libcard.kit.i18n import N_
from libcard.wallet.offers import (
    CARD_NOT_IN_USE,
    google_save_link,
    own_apple_pass,
    own_wallet_card,
)
from libcard.web.portal.render import MESSAGES, redirect
from libcard.web.portal.visit import patron_visit
from libcard.web.wallets import pkpass_response, wallets

router = APIRouter(include_in_schema=False)

# The portal's words for the refusals of these pages (render.MESSAGES is the portal's table).
MESSAGES.update(
    {
        "wallet_unavailable": N_("Saving the card to this wallet is not offered here."),
        "wallet_no_card": CARD_NOT_IN_USE,
    }
)


@router.get("/card/wallet/apple")
async def apple_pass(request: Request) -> Response:
    visit = await patron_visit(request)
    wallet = wallets(request).apple
    if wallet is None:
        raise NotFound("wallet_unavailable", "Apple Wallet passes are not offered here.")
    async with visit.unit() as ctx:
        signed = await own_apple_pass(ctx, wallet, visit.me)
    return visit.apply_cookies(pkpass_response(signed))


@router.get("/card/wallet/google")
async def google_pass(request: Request) -> Response:
    visit = await patron_visit(request)
    google = wallets(request).google
    if google is None:
        raise NotFound("wallet_unavailable", "Google Wallet passes are not offered here.")
    async with visit.unit() as ctx:
        card_id = await own_wallet_card(ctx, visit.me)
        link = await google_save_link(
            ctx, visit.runtime.settings, card_id, visit.language, google=google
        )
    return redirect(visit, link)
