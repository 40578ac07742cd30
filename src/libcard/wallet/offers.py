"""What the wallets offer for a patron's e-card, for the portal and the app, and why not.

Apple Wallet is offered when its identifiers and files are set and the files can be used;
Google Wallet when its issuer id and service account key are set and the key can be read.
The adapters read both once (`load_wallets`); the administrators' page asks again each time
(`apple_status`, `google_status`) and names what is missing or wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from libcard.accounts.portal import account_view
from libcard.cards.rules import CardState
from libcard.config import Settings
from libcard.context import Ctx
from libcard.errors import InvalidInput, NotFound
from libcard.kit.i18n import N_
from libcard.kit.secrets import Keyring
from libcard.wallet.apple_service import AppleWallet, SignedPass, apple_wallet, signed_pass
from libcard.wallet.configured import (
    APPLE_SETTINGS,
    apple_issuer,
    apple_signer,
    apple_wallet_configured,
)
from libcard.wallet.google import (
    GOOGLE_SETTINGS,
    ServiceAccount,
    google_account,
    google_issuer,
    google_wallet_configured,
    save_link,
)
from libcard.wallet.google_rules import GoogleIssuer, generic_object
from libcard.wallet.service import card_pass_view, note_pass

log = logging.getLogger("libcard.wallet")

ENV_PREFIX = "LIBCARD_"

NOTHING_OFFERED = N_("This library does not offer saving the card to a wallet.")
CARD_NOT_IN_USE = N_("Only an e-card in use can be saved to a wallet.")


@dataclass(frozen=True)
class WalletOffer:
    """Which wallets a card can be saved to; `reason` (an English text, translated where it
    is shown) says why when it is none."""

    apple: bool
    google: bool
    reason: str | None

    @property
    def available(self) -> bool:
        return self.apple or self.google


def offer_of(apple: bool, google: bool) -> WalletOffer:
    return WalletOffer(apple, google, None if apple or google else NOTHING_OFFERED)


def wallet_offer(settings: Settings) -> WalletOffer:
    """What the settings offer, before any file is read."""
    return offer_of(apple_wallet_configured(settings), google_wallet_configured(settings))


@dataclass(frozen=True)
class GoogleWallet:
    """What a "Save to Google Wallet" link needs: the key that signs it, the issuer, and the
    sites that may show the button (the portal's own)."""

    account: ServiceAccount
    issuer: GoogleIssuer
    origins: tuple[str, ...]


def public_origin(public_url: str) -> str:
    """The origin (scheme, host and port) of libcard's public address."""
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}"


def google_wallet(settings: Settings) -> GoogleWallet | None:
    """The configured Google Wallet, None when it is not set up; InvalidInput when its key
    file cannot be used."""
    if not google_wallet_configured(settings):
        return None
    account = google_account(settings)
    return GoogleWallet(
        account=account,
        issuer=google_issuer(settings, account),
        origins=(public_origin(settings.public_url),),
    )


@dataclass(frozen=True)
class Wallets:
    """The wallets this installation can issue passes for, read from the settings."""

    apple: AppleWallet | None
    google: GoogleWallet | None

    @property
    def offer(self) -> WalletOffer:
        return offer_of(self.apple is not None, self.google is not None)


def load_wallets(settings: Settings, keyring: Keyring) -> Wallets:
    """Both wallets; one whose files cannot be used is not offered, and the log says so
    (the administrators' wallet page shows why in full)."""
    apple: AppleWallet | None = None
    google: GoogleWallet | None = None
    try:
        apple = apple_wallet(settings, keyring)
    except InvalidInput as error:
        log.warning("Apple Wallet is not offered: %s (%s)", error.message, error.code)
    try:
        google = google_wallet(settings)
    except InvalidInput as error:
        log.warning("Google Wallet is not offered: %s (%s)", error.message, error.code)
    return Wallets(apple, google)


# --- a patron's own pass --------------------------------------------------------------------


async def own_wallet_card(ctx: Ctx, patron_id: int) -> int:
    """The id of the patron's e-card in use: the only card a patron saves to a wallet. A
    lost, replaced or expired e-card, or one not yet activated, gets no new pass."""
    ecard = (await account_view(ctx, patron_id)).ecard
    if ecard is None or ecard.state is not CardState.ACTIVE or not ecard.card.number:
        raise NotFound("wallet_no_card", "Only an e-card in use can be saved to a wallet.")
    return ecard.card.id


async def own_apple_pass(ctx: Ctx, wallet: AppleWallet, patron_id: int) -> SignedPass:
    """The signed pass of the patron's own e-card, recorded as handed out."""
    return await signed_pass(ctx, wallet, await own_wallet_card(ctx, patron_id))


async def google_save_link(
    ctx: Ctx,
    settings: Settings,
    card_id: int,
    language: str,
    *,
    google: GoogleWallet | None = None,
) -> str:
    """The "Save to Google Wallet" link of card `card_id` as it is now, in `language`.

    The pass is recorded as handed out and the first offer to Google is noted, so later
    changes reach the saved pass. `google` is the wallet read once by the caller; without it
    the settings are read now."""
    google = google or google_wallet(settings)
    if google is None:
        raise NotFound("wallet_unavailable", "Google Wallet passes are not offered here.")
    view = await card_pass_view(ctx, card_id)
    record = await note_pass(ctx, view)
    now = ctx.clock.now()
    if record.google_offered_at is None:
        record.google_offered_at = now
    card_object = generic_object(view.card_pass, google.issuer, now, language)
    return save_link(google.account, google.issuer, card_object, google.origins, now)


# --- why a wallet is not offered, for administrators --------------------------------------


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def missing_settings(settings: Settings, names: tuple[str, ...]) -> tuple[str, ...]:
    """The environment names of the settings among `names` that have no value."""
    return tuple(env_name(name) for name in names if not getattr(settings, name))


@dataclass(frozen=True)
class WalletStatus:
    """Whether a wallet is offered; if not, the settings not set, or what is wrong with the
    files they name (the error's own English words, for the operator)."""

    offered: bool
    missing: tuple[str, ...] = ()
    problem: str | None = None


def apple_status(settings: Settings) -> WalletStatus:
    missing = missing_settings(settings, APPLE_SETTINGS)
    if missing:
        return WalletStatus(False, missing=missing)
    try:
        apple_issuer(settings)
        apple_signer(settings)
    except InvalidInput as error:
        return WalletStatus(False, problem=error.message)
    return WalletStatus(True)


def google_status(settings: Settings) -> WalletStatus:
    missing = missing_settings(settings, GOOGLE_SETTINGS)
    if missing:
        return WalletStatus(False, missing=missing)
    try:
        google_wallet(settings)
    except InvalidInput as error:
        return WalletStatus(False, problem=error.message)
    return WalletStatus(True)
