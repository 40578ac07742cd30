"""The patron's own routes, for the institution's app: a token by login, the e-card (R3) and
its wallet passes.

A patron token names its patron, so there is no path parameter to ask for anyone else's card.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.access.models import ApiToken
from libcard.access.scopes import Scope
from libcard.access.service import create_token
from libcard.accounts.portal import account_view, log_in
from libcard.accounts.service import CardStatus, Holding, status_of
from libcard.cards.texts import refusal_text
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import Forbidden, NotFound
from libcard.kit.i18n import translate
from libcard.patrons.models import Patron
from libcard.runtime import Runtime
from libcard.wallet.apple_service import PKPASS_TYPE
from libcard.wallet.offers import CARD_NOT_IN_USE, Wallets, google_save_link, own_apple_pass
from libcard.web.api import me_schemas as m
from libcard.web.api import schemas as s
from libcard.web.api.deps import Api, ApiDep
from libcard.web.api.views import block_out
from libcard.web.wallets import pkpass_response, wallets

router = APIRouter(tags=["me"])

APP_TOKEN_DAYS = 30
APP_TOKEN_NAME = "app login"  # noqa: S105 — the token's name, not a secret
# Before the password is checked nobody is known; the attempt is recorded as the app's.
APP_VISITOR = Actor(kind=ActorKind.PATRON, label="app visitor")
# Only an administrator or libcard itself makes tokens: a right login is libcard's warrant.
APP_TOKEN_ISSUER = Actor(kind=ActorKind.SYSTEM, label="libcard app login")
PKPASS_ROUTE = "my_card_pass"


@router.post("/me/token", response_model=m.MeTokenOut, status_code=201)
async def app_token(request: Request, body: m.MeTokenIn) -> m.MeTokenOut:
    """Log in with the card number or e-mail and the password; the answer is a patron token
    with the scope `me`, valid for 30 days. Wrong logins are counted per login name and per
    client address like the portal's: too many answer 429."""
    runtime: Runtime = request.app.state.runtime
    address = request.client.host if request.client else "unknown"
    async with runtime.unit(APP_VISITOR) as ctx:
        patron = await log_in(ctx, body.login, body.password, address)
        _, answer = await issue_app_token(ctx, patron)
    return answer


async def issue_app_token(ctx: Ctx, patron: Patron) -> tuple[ApiToken, m.MeTokenOut]:
    """The app's token of `patron`: scope `me`, 30 days; whoever logged them in (a password
    here, a one-time code of the browser login in me_sso_routes)."""
    token, secret = await create_token(
        ctx.as_actor(APP_TOKEN_ISSUER),
        name=APP_TOKEN_NAME,
        actor_kind=ActorKind.PATRON,
        scopes=[Scope.ME],
        institution_id=patron.institution_id,
        patron_id=patron.id,
        valid_days=APP_TOKEN_DAYS,
    )
    expires_at: datetime = token.expires_at  # type: ignore[assignment]  # valid_days is set
    answer = m.MeTokenOut(access_token=secret, scopes=list(token.scopes), expires_at=expires_at)
    return token, answer


@router.get("/me/card", response_model=m.MeCardOut)
async def my_card(api: ApiDep) -> m.MeCardOut:
    """The e-card of the token's patron: the number to show as a barcode, whether it may be
    used, the account's blocks with their reason and the step that lifts them in the
    `Accept-Language` language (da, de, en), and where to get the card's wallet passes. Only
    a patron token (scope `me`) may ask."""
    async with api.unit(Scope.ME, readonly=True) as ctx:
        status = await _own_ecard_status(ctx)
        language = api.language(
            status.patron.preferred_language or status.institution.default_language
        )
        refusal = None
        if status.refusal is not None:
            refusal = s.Refusal(code=status.refusal, message=refusal_text(status.refusal, language))
        blocks = [
            block_out(b, status.policy, language, status.institution.timezone)
            for b in status.blocks
        ]
    return m.MeCardOut(
        number=status.card.number or "",
        symbology="code128",
        holder_name=f"{status.patron.first_name} {status.patron.last_name}",
        state=status.state,
        usable=status.refusal is None,
        refusal=refusal,
        blocks=blocks,
        language=language,
        passes=await _passes(api, status.card.id, status.refusal is None, language),
    )


async def _passes(api: Api, card_id: int, usable: bool, language: str) -> m.WalletPasses:
    """The card's wallet links. The Google link records the pass as offered, a write: it is
    made in a short unit of its own, so the card itself is still read from the snapshot
    beside the writer, and a deployment without Google Wallet never queues for the writer."""
    offered: Wallets = wallets(api.request)
    offer = offered.offer
    if not offer.available or not usable:
        reason = offer.reason or CARD_NOT_IN_USE
        return m.WalletPasses(
            apple=None, google=None, wallet_available=False, reason=translate(language, reason)
        )
    apple = None
    if offered.apple is not None:
        path = api.request.app.url_path_for(PKPASS_ROUTE)
        apple = api.runtime.settings.public_url.rstrip("/") + path
    google = None
    if offered.google is not None:
        async with api.unit(Scope.ME) as ctx:
            google = await google_save_link(
                ctx, api.runtime.settings, card_id, language, google=offered.google
            )
    return m.WalletPasses(apple=apple, google=google, wallet_available=True, reason=None)


@router.get(
    "/me/card/pass.pkpass",
    name=PKPASS_ROUTE,
    response_class=Response,
    responses={
        200: {
            "description": "The signed Apple Wallet pass (a .pkpass file) of the e-card.",
            "content": {PKPASS_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        404: {
            "description": "`wallet_unavailable`: Apple Wallet passes are not offered here; "
            "`wallet_no_card`: the account has no e-card in use (a problem document).",
        },
    },
)
async def my_card_pass(api: ApiDep) -> Response:
    """The Apple Wallet pass of the token's patron's e-card in use, as `passes.apple` of
    `GET /me/card` names it; the same file the portal hands out. The pass is recorded as
    handed out, so that the phone is told when the card is lost, blocked or replaced. Only a
    patron token (scope `me`) may ask, and only ever for its own card."""
    wallet = wallets(api.request).apple
    async with api.unit(Scope.ME) as ctx:
        patron_id = _own_patron_id(ctx)
        if wallet is None:
            raise NotFound("wallet_unavailable", "Apple Wallet passes are not offered here.")
        signed = await own_apple_pass(ctx, wallet, patron_id)
    return pkpass_response(signed)


def _own_patron_id(ctx: Ctx) -> int:
    patron_id = ctx.actor.patron_id
    if ctx.actor.kind is not ActorKind.PATRON or patron_id is None:
        raise Forbidden("patron_token_required", "Only a patron's own token may ask for /me.")
    return patron_id


async def _own_ecard_status(ctx: Ctx) -> CardStatus:
    view = await account_view(ctx, _own_patron_id(ctx))
    ecard = view.ecard
    if ecard is None or not ecard.card.number:
        raise NotFound("ecard_missing", "This account has no e-card. Contact the lending desk.")
    holding = Holding(ecard.card, view.patron, view.group, view.institution, view.policy)
    return await status_of(ctx, holding, note_refusal=False)
