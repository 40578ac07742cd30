"""Apple Wallet: the signed pass of a card, and the devices that keep it (Apple's web service).

A phone that adds the pass registers itself with the pass's serial and authentication token
and a push token; when the pass changes, a push tells the phone to ask which of its passes
were updated since its last tag and to fetch them again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from libcard.access.service import check_throttle, count_failure
from libcard.config import Settings
from libcard.context import Ctx
from libcard.errors import InvalidInput, NotFound, WrongSecret
from libcard.kit.secrets import Keyring
from libcard.wallet.apple import Signer, build_pkpass
from libcard.wallet.configured import apple_issuer, apple_signer, apple_wallet_configured
from libcard.wallet.models import WalletPass, WalletRegistration
from libcard.wallet.rules import PassIssuer, pass_content, serial_number
from libcard.wallet.service import (
    apple_service_url,
    card_id_of_serial,
    card_pass_view,
    note_pass,
    refresh_passes,
    token_matches,
)
from libcard.wallet.texts import all_pass_strings

# Apple's device library identifiers and push tokens are hex-like; anything else is refused
# before it reaches the database or a push request's path.
DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
PUSH_TOKEN = re.compile(r"^[0-9A-Fa-f]{8,200}$")
PKPASS_TYPE = "application/vnd.apple.pkpass"
# Wrong pass tokens from one address before it is refused for the rest of the window.
WRONG_TOKENS = 30
WRONG_TOKEN_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class AppleWallet:
    """What issuing Apple passes needs besides the database."""

    issuer: PassIssuer
    signer: Signer
    service_url: str | None
    keyring: Keyring


def apple_wallet(settings: Settings, keyring: Keyring) -> AppleWallet | None:
    """The configured Apple Wallet, or None when it is not set up (no pass is offered)."""
    if not apple_wallet_configured(settings):
        return None
    return AppleWallet(
        issuer=apple_issuer(settings),
        signer=apple_signer(settings),
        service_url=apple_service_url(settings.public_url),
        keyring=keyring,
    )


@dataclass(frozen=True)
class SignedPass:
    data: bytes
    serial: str
    updated_at: datetime


async def signed_pass(ctx: Ctx, wallet: AppleWallet, card_id: int) -> SignedPass:
    """The .pkpass of card `card_id` as it is now, recorded as handed out."""
    view = await card_pass_view(
        ctx, card_id, service_url=wallet.service_url, keyring=wallet.keyring
    )
    record = await note_pass(ctx, view)
    content = pass_content(view.card_pass, wallet.issuer, ctx.clock.now(), all_pass_strings())
    logo = view.branding.logo
    data = build_pkpass(content, {"logo.png": logo} if logo else None, wallet.signer)
    return SignedPass(data, serial_number(card_id), record.updated_at)


def _check_pass_type(wallet: AppleWallet, pass_type: str) -> None:
    if pass_type != wallet.issuer.pass_type_identifier:
        raise NotFound("wallet_pass_type", "This server issues no passes of that type.")


async def authenticated_pass(
    ctx: Ctx,
    wallet: AppleWallet,
    pass_type: str,
    serial: str,
    token: str | None,
    client: str = "unknown",
) -> int:
    """The card id of a pass whose request carries its token; refused as unauthenticated
    otherwise, whether the serial is unknown or the token wrong (no probing of serials).

    Tokens are keyed digests, not guessable; still, an address that sends many wrong ones is
    refused for a while, so nobody can try them at the speed of the server."""
    _check_pass_type(wallet, pass_type)
    throttle_key = f"wallet-pass:{client}"
    await check_throttle(ctx, throttle_key, limit=WRONG_TOKENS, window=WRONG_TOKEN_WINDOW)
    card_id = card_id_of_serial(serial)
    if (
        card_id is None
        or token is None
        or not token_matches(wallet.keyring, card_id, token)
        or await ctx.session.get(WalletPass, card_id) is None
    ):
        await count_failure(ctx, throttle_key, window=WRONG_TOKEN_WINDOW)
        raise WrongSecret("wallet_pass_token", "The pass's authentication token is wrong.")
    return card_id


def check_device(device: str) -> None:
    if DEVICE_ID.match(device) is None:
        raise InvalidInput(
            "wallet_device", "A device library identifier is 1–128 letters or digits."
        )


async def register_device(ctx: Ctx, device: str, card_id: int, push_token: str) -> bool:
    """Register `device` for the pass of `card_id`; True if new, False if it was already."""
    check_device(device)
    if PUSH_TOKEN.match(push_token) is None:
        raise InvalidInput("wallet_push_token", "A push token is a hexadecimal string.")
    existing = await ctx.session.scalar(
        select(WalletRegistration).where(
            WalletRegistration.device_library_identifier == device,
            WalletRegistration.card_id == card_id,
        )
    )
    if existing is not None:
        existing.push_token = push_token  # a restored phone may come back with a new one
        return False
    ctx.session.add(
        WalletRegistration(
            device_library_identifier=device,
            card_id=card_id,
            push_token=push_token,
            created_at=ctx.clock.now(),
        )
    )
    await ctx.session.flush()
    return True


async def unregister_device(ctx: Ctx, device: str, card_id: int) -> None:
    check_device(device)
    await ctx.session.execute(
        delete(WalletRegistration).where(
            WalletRegistration.device_library_identifier == device,
            WalletRegistration.card_id == card_id,
        )
    )


def update_tag(moment: datetime) -> str:
    """Apple's opaque "last updated" tag: microseconds since the epoch."""
    return str(int(moment.timestamp() * 1_000_000))


def _tag_moment(tag: str | None) -> int | None:
    if tag is None or not tag.isdigit() or len(tag) > 20:
        return None  # no tag, or not ours: every pass counts as updated
    return int(tag)


@dataclass(frozen=True)
class UpdatedSerials:
    serials: list[str]
    last_updated: str


async def updated_serials(
    ctx: Ctx, wallet: AppleWallet, device: str, pass_type: str, since: str | None
) -> UpdatedSerials | None:
    """The serials of `device`'s passes changed after tag `since`; None when none changed.

    The passes are built again first, so a change made a moment ago is seen even before the
    update job has run."""
    _check_pass_type(wallet, pass_type)
    check_device(device)
    card_ids = list(
        (
            await ctx.session.scalars(
                select(WalletRegistration.card_id)
                .where(WalletRegistration.device_library_identifier == device)
                .order_by(WalletRegistration.card_id)
            )
        ).all()
    )
    if not card_ids:
        return None
    await refresh_passes(ctx, card_ids)
    passes = (
        await ctx.session.scalars(select(WalletPass).where(WalletPass.card_id.in_(card_ids)))
    ).all()
    after = _tag_moment(since)
    changed = [p for p in passes if after is None or int(update_tag(p.updated_at)) > after]
    if not changed:
        return None
    latest = max(p.updated_at for p in changed)
    return UpdatedSerials(sorted(serial_number(p.card_id) for p in changed), update_tag(latest))
