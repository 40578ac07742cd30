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
from libcard.runtime import Runtime
from libcard.wallet.apple_service import PKPASS_TYPE, SignedPass
from libcard.wallet.offers import (
    CARD_NOT_IN_USE,
    Wallets,
    google_save_link,
    load_wallets,
    own_apple_pass,
    own_wallet_card,
)
from libcard.web.portal.render import MESSAGES, redirect
from libcard.web.portal.visit import patron_visit

router = APIRouter(include_in_schema=False)

PKPASS_FILENAME = "library-card.pkpass"

# The portal's words for the refusals of these pages (render.MESSAGES is the portal's table).
MESSAGES.update(
    {
        "wallet_unavailable": N_("Saving the card to this wallet is not offered here."),
        "wallet_no_card": CARD_NOT_IN_USE,
    }
)


def wallets(request: Request) -> Wallets:
    """The wallets, read from the settings and files once per application: a page must not
    read certificate files, and a wallet that cannot be used is then hidden, not an error."""
    state = request.app.state
    found: Wallets | None = getattr(state, "wallets", None)
    if found is None:
        runtime: Runtime = state.runtime
        found = load_wallets(runtime.settings, runtime.keyring)
        state.wallets = found
    return found


def pkpass_response(signed: SignedPass) -> Response:
    """The .pkpass as a download; a phone opens it in Wallet."""
    return Response(
        signed.data,
        media_type=PKPASS_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{PKPASS_FILENAME}"',
            "Cache-Control": "no-store",
        },
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
