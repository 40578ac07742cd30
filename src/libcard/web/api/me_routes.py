"""The patron's own routes, for the institution's app: a token by login, and the e-card (R3).

A patron token names its patron, so there is no path parameter to ask for anyone else's card.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request

from libcard.access.scopes import Scope
from libcard.access.service import create_token
from libcard.accounts.portal import account_view, log_in
from libcard.accounts.service import CardStatus, Holding, status_of
from libcard.cards.texts import refusal_text
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import Forbidden, NotFound
from libcard.kit.i18n import N_, translate
from libcard.runtime import Runtime
from libcard.web.api import me_schemas as m
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep
from libcard.web.api.views import block_out

router = APIRouter(tags=["me"])

APP_TOKEN_DAYS = 30
APP_TOKEN_NAME = "app login"  # noqa: S105 — the token's name, not a secret
# Before the password is checked nobody is known; the attempt is recorded as the app's.
APP_VISITOR = Actor(kind=ActorKind.PATRON, label="app visitor")
# Only an administrator or libcard itself makes tokens: a right login is libcard's warrant.
APP_TOKEN_ISSUER = Actor(kind=ActorKind.SYSTEM, label="libcard app login")
WALLET_LATER = N_("Saving the card to Apple Wallet or Google Wallet is not available yet.")


@router.post("/me/token", response_model=m.MeTokenOut, status_code=201)
async def app_token(request: Request, body: m.MeTokenIn) -> m.MeTokenOut:
    """Log in with the card number or e-mail and the password; the answer is a patron token
    with the scope `me`, valid for 30 days. Wrong logins are counted per login name and per
    client address like the portal's: too many answer 429."""
    runtime: Runtime = request.app.state.runtime
    address = request.client.host if request.client else "unknown"
    async with runtime.unit(APP_VISITOR) as ctx:
        patron = await log_in(ctx, body.login, body.password, address)
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
    return m.MeTokenOut(access_token=secret, scopes=list(token.scopes), expires_at=expires_at)


@router.get("/me/card", response_model=m.MeCardOut)
async def my_card(api: ApiDep) -> m.MeCardOut:
    """The e-card of the token's patron: the number to show as a barcode, whether it may be
    used, and the account's blocks with their reason and the step that lifts them in the
    `Accept-Language` language (da, de, en). Only a patron token (scope `me`) may ask."""
    async with api.unit(Scope.ME, readonly=True) as ctx:
        status = await _own_ecard_status(ctx)
        language = api.language(
            status.patron.preferred_language or status.institution.default_language
        )
        refusal = None
        if status.refusal is not None:
            refusal = s.Refusal(code=status.refusal, message=refusal_text(status.refusal, language))
        return m.MeCardOut(
            number=status.card.number or "",
            symbology="code128",
            holder_name=f"{status.patron.first_name} {status.patron.last_name}",
            state=status.state,
            usable=status.refusal is None,
            refusal=refusal,
            blocks=[
                block_out(b, status.policy, language, status.institution.timezone)
                for b in status.blocks
            ],
            language=language,
            passes=m.WalletPasses(
                apple=None,
                google=None,
                wallet_available=False,
                reason=translate(language, WALLET_LATER),
            ),
        )


async def _own_ecard_status(ctx: Ctx) -> CardStatus:
    patron_id = ctx.actor.patron_id
    if ctx.actor.kind is not ActorKind.PATRON or patron_id is None:
        raise Forbidden("patron_token_required", "Only a patron's own token may ask for /me.")
    view = await account_view(ctx, patron_id)
    ecard = view.ecard
    if ecard is None or not ecard.card.number:
        raise NotFound("ecard_missing", "This account has no e-card. Contact the lending desk.")
    holding = Holding(ecard.card, view.patron, view.group, view.institution, view.policy)
    return await status_of(ctx, holding, note_refusal=False)
