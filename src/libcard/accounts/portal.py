"""What the patron portal does with an account: log in, look, change secrets, report a loss.

Each function is one use case inside one unit of work; the portal's routes only parse forms,
call one of these and render the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from libcard.access.models import PortalSession
from libcard.access.service import check_throttle, clear_failures, count_failure
from libcard.access.sessions import SessionRules, end_sessions_of, start_session
from libcard.blocks.rules import Block
from libcard.blocks.service import account_blocks
from libcard.cards.activation import activate
from libcard.cards.models import Card
from libcard.cards.rules import PHYSICAL_KINDS, CardKind, CardState, normalise_number
from libcard.cards.service import cards_of, find_card, report_lost, state_now
from libcard.context import Ctx
from libcard.errors import LibcardError, NotFound, WrongSecret
from libcard.fees.service import Ledger
from libcard.kit.secrets import verify_password
from libcard.notify.recipient import mail_recipient, recipient_at
from libcard.patrons.credentials import (
    change_password,
    check_own_password,
    request_password_reset,
    reset_password,
)
from libcard.patrons.models import Patron
from libcard.patrons.rules import normalise_email
from libcard.patrons.service import get_patron
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import Policy
from libcard.policy.service import policy_for_group

LOGIN_ATTEMPTS = 10  # per login name, whether or not an account has it
ADDRESS_ATTEMPTS = 30  # per client address, over every login name it tries
RESET_REQUESTS = 3  # reset mails per e-mail address and window: no mail bombing
WINDOW = timedelta(minutes=15)
LOGIN_FAILED = "login_failed"


def _login_failed() -> WrongSecret:
    return WrongSecret(LOGIN_FAILED, "The card number, e-mail or password is wrong.")


async def log_in(ctx: Ctx, login: str, password: str, client_address: str) -> Patron:
    """The patron whose card number or e-mail and password these are (R7).

    Failures are counted per login name and per client address; an unknown login name is
    answered exactly like a wrong password, in the same time.
    """
    name = login.strip().lower()
    keys = (_login_key(name), f"login-address:{client_address}")
    await check_throttle(ctx, keys[0], limit=LOGIN_ATTEMPTS, window=WINDOW)
    await check_throttle(ctx, keys[1], limit=ADDRESS_ATTEMPTS, window=WINDOW)
    candidates = await _accounts_for(ctx, name)
    for patron in candidates:
        try:
            await check_own_password(ctx, patron, password)
        except WrongSecret:
            continue
        return patron
    if not candidates:
        # As slow as a wrong password, so that timing does not tell who has an account.
        await verify_password(None, password)
    for key in keys:
        await count_failure(ctx, key, window=WINDOW)
    raise _login_failed()


def _login_key(name: str) -> str:
    # A card number counts as one name however it is typed (spaces, dashes).
    return f"login:{(name if '@' in name else normalise_number(name).lower())[:150]}"


async def _accounts_for(ctx: Ctx, name: str) -> list[Patron]:
    """Activated, open accounts a login name may mean: the card's owner, or the e-mail's."""
    if "@" in name:
        try:
            address = normalise_email(name)
        except LibcardError:
            return []
        found = (
            await ctx.session.scalars(
                select(Patron).where(
                    (Patron.email == address) | (Patron.institutional_email == address)
                )
            )
        ).all()
    else:
        try:
            card = await find_card(ctx, normalise_number(name))
        except LibcardError:
            return []
        if state_now(ctx, card) is not CardState.ACTIVE:
            return []
        found = [await get_patron(ctx, card.patron_id)]
    now = ctx.clock.now()
    return [
        p
        for p in found
        if p.activated_at is not None
        and p.password_hash
        and p.closed_at is None
        and (p.expires_at is None or p.expires_at > now)
    ]


@dataclass(frozen=True)
class CardView:
    card: Card
    state: CardState

    @property
    def is_physical(self) -> bool:
        return CardKind(self.card.kind) in PHYSICAL_KINDS


@dataclass(frozen=True)
class AccountView:
    """Everything the portal shows of one account, read in one unit."""

    patron: Patron
    institution: Institution
    group: PatronGroup
    policy: Policy
    cards: list[CardView]
    blocks: list[Block]
    ledger: Ledger

    @property
    def ecard(self) -> CardView | None:
        """The e-card in use: the newest one that has not been reported lost (R3)."""
        ecards = [
            view
            for view in self.cards
            if view.card.kind == CardKind.ECARD
            and view.state in (CardState.ACTIVE, CardState.NOT_ACTIVATED, CardState.EXPIRED)
        ]
        return ecards[-1] if ecards else None

    @property
    def reportable(self) -> list[CardView]:
        """Cards the patron can report lost from the portal: any of theirs still in use."""
        return [
            view for view in self.cards if view.state in (CardState.ACTIVE, CardState.NOT_ACTIVATED)
        ]


async def account_view(ctx: Ctx, patron_id: int) -> AccountView:
    patron = await get_patron(ctx, patron_id)
    institution, group, _ = await policy_for_group(ctx, patron.group_id)
    cards = [CardView(card, state_now(ctx, card)) for card in await cards_of(ctx, patron.id)]
    blocks, policy, ledger = await account_blocks(ctx, patron)
    return AccountView(patron, institution, group, policy, cards, blocks, ledger)


@dataclass(frozen=True)
class LossReport:
    card: Card
    view: AccountView  # the account as it is after the report
    new_ecard: Card | None  # a lost e-card is replaced at once (R3)
    replacement_fee_minor: int  # what a new physical card of this kind costs this patron
    currency: str


async def report_own_card_lost(ctx: Ctx, patron_id: int, card_id: int) -> LossReport:
    """R10: the patron reports one of their own cards lost; refused from this moment."""
    card = await ctx.session.get(Card, card_id)
    if card is None or card.patron_id != patron_id:
        raise NotFound("card_not_yours", "This is not one of your cards.")
    await report_lost(ctx, card.id)
    view = await account_view(ctx, patron_id)
    new_ecard = view.ecard.card if card.kind == CardKind.ECARD and view.ecard else None
    fee = view.policy.card_replacement_fee_minor if card.kind == CardKind.PHYSICAL else 0
    return LossReport(card, view, new_ecard, fee, view.policy.currency)


async def change_own_password(
    ctx: Ctx, patron_id: int, current: str, new: str, rules: SessionRules
) -> tuple[PortalSession, str]:
    """R7: the current password proves it is the patron. Every session ends, and the patron
    goes on in a new one: whoever might have copied the old cookie is out as well."""
    await change_password(ctx, patron_id, current, new)
    await end_sessions_of(ctx, patron_id)
    return await start_session(ctx, patron_id, rules)


async def send_password_reset(
    ctx: Ctx, email: str, reset_base_url: str, client_address: str
) -> None:
    """Mail a single-use reset link to every account with this e-mail (R7). Says nothing of
    whether one exists: the caller shows the same page either way."""
    address = normalise_email(email)
    await check_throttle(ctx, f"reset:{address}", limit=RESET_REQUESTS, window=WINDOW)
    await check_throttle(
        ctx, f"reset-address:{client_address}", limit=ADDRESS_ATTEMPTS, window=WINDOW
    )
    await count_failure(ctx, f"reset:{address}", window=WINDOW)
    await count_failure(ctx, f"reset-address:{client_address}", window=WINDOW)
    institutions = (await ctx.session.scalars(select(Institution))).all()
    for institution in institutions:
        issued = await request_password_reset(ctx, institution.id, address)
        if issued is None:
            continue
        patron, secret = issued
        await mail_recipient(
            ctx,
            recipient_at(patron, institution, address),
            "password_reset",
            reset_url=f"{reset_base_url}/{secret}",
            valid_minutes=institution.password_reset_minutes,
        )


async def reset_forgotten_password(ctx: Ctx, secret: str, new: str) -> Patron:
    """The mailed link sets a new password; every session of the account ends (R7)."""
    patron = await reset_password(ctx, secret, new)
    await end_sessions_of(ctx, patron.id)
    # Whoever guessed at the old password must not keep the owner of the new one locked out.
    names = [patron.email, patron.institutional_email]
    names += [card.number for card in await cards_of(ctx, patron.id)]
    for key in [f"password:{patron.id}"] + [_login_key(n.lower()) for n in names if n]:
        await clear_failures(ctx, key)
    return patron


ACTIVATION_ADDRESS_ATTEMPTS = 20


async def activate_account(
    ctx: Ctx, card_number: str, code: str, password: str, pin: str, client_address: str
) -> Patron:
    """R1, R2 from the portal: the wrong guesses of one address count, whatever card they name
    (the account's own limit counts those naming one card)."""
    key = f"activation-address:{client_address}"
    await check_throttle(ctx, key, limit=ACTIVATION_ADDRESS_ATTEMPTS, window=WINDOW)
    try:
        return await activate(ctx, card_number, code, password, pin)
    except (WrongSecret, NotFound):
        await count_failure(ctx, key, window=WINDOW)
        # An unknown card is answered like a wrong code: card numbers are not to be probed.
        raise WrongSecret(
            "activation_code_wrong", "The card number or activation code is wrong."
        ) from None
