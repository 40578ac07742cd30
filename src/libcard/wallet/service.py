"""A card's wallet pass as it is now, and keeping track of the passes handed out.

Every pass libcard hands out (the portal's download, the app's link, a phone fetching the
latest version) is recorded in `wallet_pass` with a digest of what it says. `refresh_passes`
builds each recorded pass again: when the digest differs (the card was reported lost,
replaced or blocked, a block was lifted, the card expired, the branding changed), the pass's
update tag moves on and its devices are marked to be told (`wallet/updates.py` tells them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update

from libcard.accounts.service import CardStatus, Holding, status_of
from libcard.audit.models import AuditEvent
from libcard.cards.models import Card
from libcard.cards.rules import CardKind
from libcard.context import Ctx
from libcard.errors import NotFound
from libcard.kit.secrets import Keyring
from libcard.patrons.models import Patron
from libcard.policy.models import Institution
from libcard.policy.rules import Action
from libcard.policy.service import policy_for_group
from libcard.wallet.models import WalletPass, WalletRegistration
from libcard.wallet.rules import (
    CardPass,
    Colour,
    PassIssuer,
    Symbology,
    pass_json,
    serial_number,
    wallet_can_reach,
)

# Where Apple's pass web service is served; Wallet appends "/v1/devices/…" and "/v1/passes/…".
APPLE_SERVICE_PATH = "/wallet/apple"
TOKEN_PURPOSE = "wallet-pass"  # noqa: S105 — the purpose of a digest, not a secret
# Update times are whole seconds, as HTTP's Last-Modified is, and move on by at least one.
TICK = timedelta(seconds=1)
SYMBOLOGIES = {"code128": Symbology.CODE128, "qr": Symbology.QR}


@dataclass(frozen=True)
class Branding:
    """How an institution's passes look (policy): colours, barcode, contact text, logo."""

    background: Colour
    foreground: Colour
    label: Colour
    symbology: Symbology
    contact: str | None
    logo: bytes | None


def branding_of(institution: Institution) -> Branding:
    return Branding(
        background=Colour.from_hex(institution.wallet_background),
        foreground=Colour.from_hex(institution.wallet_foreground),
        label=Colour.from_hex(institution.wallet_label),
        symbology=SYMBOLOGIES.get(institution.wallet_symbology, Symbology.CODE128),
        contact=institution.wallet_contact,
        logo=institution.wallet_logo,
    )


def apple_service_url(public_url: str) -> str | None:
    """The pass web service's address, or None when Wallet could not reach it (not HTTPS)."""
    url = public_url.rstrip("/") + APPLE_SERVICE_PATH
    return url if wallet_can_reach(url) else None


def pass_token(keyring: Keyring, card_id: int) -> str:
    """The pass's authentication token: a keyed digest of its serial, so nothing is stored
    and a token of an earlier key version still verifies after the secret is rotated."""
    return keyring.digest(TOKEN_PURPOSE, serial_number(card_id))


def token_matches(keyring: Keyring, card_id: int, token: str) -> bool:
    return keyring.verify(TOKEN_PURPOSE, serial_number(card_id), token)


def card_id_of_serial(serial: str) -> int | None:
    """The card id in a serial number `card-<id>`; None for anything else."""
    head, _, digits = serial.partition("-")
    if head != "card" or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


@dataclass(frozen=True)
class CardPassView:
    """A card's pass as it is now, with what built it."""

    card_pass: CardPass
    branding: Branding
    status: CardStatus


async def _holding(ctx: Ctx, card_id: int) -> Holding:
    card = await ctx.session.get(Card, card_id)
    if card is None or not ctx.actor.may_see_patron(card.patron_id, card.institution_id):
        raise NotFound("card_not_found", f"No card with id {card_id}.")
    patron = await ctx.session.get(Patron, card.patron_id)
    assert patron is not None  # foreign key
    institution, group, policy = await policy_for_group(ctx, patron.group_id)
    return Holding(card, patron, group, institution, policy)


async def card_pass_view(
    ctx: Ctx, card_id: int, *, service_url: str | None = None, keyring: Keyring | None = None
) -> CardPassView:
    """What the pass of card `card_id` shows now. Only e-cards with a number have a pass.

    With `service_url` and `keyring` the pass names Apple's web service and its token."""
    holding = await _holding(ctx, card_id)
    card = holding.card
    if card.kind != CardKind.ECARD.value or not card.number:
        raise NotFound("wallet_no_pass", "Only an e-card can be saved to a wallet.")
    status = await status_of(ctx, holding, note_refusal=False)
    institution = holding.institution
    branding = branding_of(institution)
    patron = holding.patron
    served = service_url is not None and keyring is not None
    card_pass = CardPass(
        card_id=card.id,
        card_number=card.number,
        holder_name=f"{patron.first_name} {patron.last_name}",
        state=status.state,
        institution_name=institution.name,
        blocked=any(Action.BORROW in block.effects for block in status.blocks),
        expires_at=card.expires_at,
        timezone=institution.timezone,
        background=branding.background,
        foreground=branding.foreground,
        label=branding.label,
        symbology=branding.symbology,
        contact=branding.contact,
        web_service_url=service_url if served else None,
        authentication_token=pass_token(keyring, card.id) if keyring and served else None,
    )
    return CardPassView(card_pass, branding, status)


# The digest must not change with the deployment's Apple account or address, only with
# what the patron sees; so it is taken of the pass under a fixed issuer, without web service.
_DIGEST_ISSUER = PassIssuer("pass.libcard.digest", "libcard")


def fingerprint(view: CardPassView, now: datetime) -> str:
    """A digest of everything the pass shows: equal digests, equal passes."""
    shown = replace(view.card_pass, web_service_url=None, authentication_token=None)
    content = json.dumps(pass_json(shown, _DIGEST_ISSUER, now), sort_keys=True, ensure_ascii=False)
    logo = hashlib.sha256(view.branding.logo or b"").hexdigest()
    return hashlib.sha256(f"{content}\n{logo}".encode()).hexdigest()


async def note_pass(ctx: Ctx, view: CardPassView) -> WalletPass:
    """Record that the pass of `view` was handed out (or seen again) as it is now."""
    now = ctx.clock.now()
    digest = fingerprint(view, now)
    card_id = view.card_pass.card_id
    wallet_pass = await ctx.session.get(WalletPass, card_id, with_for_update=True)
    if wallet_pass is None:
        wallet_pass = WalletPass(
            card_id=card_id,
            fingerprint=digest,
            created_at=now,
            updated_at=_whole_second(now),
        )
        ctx.session.add(wallet_pass)
        await ctx.session.flush()
    elif wallet_pass.fingerprint != digest:
        await _changed(ctx, wallet_pass, digest, now)
    return wallet_pass


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


async def _changed(ctx: Ctx, wallet_pass: WalletPass, digest: str, now: datetime) -> None:
    # Tags must grow even when two changes fall in the same second.
    wallet_pass.updated_at = max(_whole_second(now), wallet_pass.updated_at + TICK)
    wallet_pass.fingerprint = digest
    await ctx.session.execute(
        update(WalletRegistration)
        .where(
            WalletRegistration.card_id == wallet_pass.card_id,
            WalletRegistration.push_pending_since.is_(None),
        )
        .values(push_pending_since=now)
    )


async def refresh_passes(ctx: Ctx, card_ids: Sequence[int]) -> list[int]:
    """Build the recorded passes of `card_ids` again; the ids whose content changed."""
    changed: list[int] = []
    now = ctx.clock.now()
    for card_id in card_ids:
        wallet_pass = await ctx.session.get(WalletPass, card_id, with_for_update=True)
        if wallet_pass is None:
            continue
        try:
            view = await card_pass_view(ctx, card_id)
        except NotFound:
            continue  # a card that is gone keeps its last pass
        digest = fingerprint(view, now)
        if digest != wallet_pass.fingerprint:
            await _changed(ctx, wallet_pass, digest, now)
            changed.append(card_id)
    return changed


async def recorded_pass_ids(
    ctx: Ctx, *, after_id: int, limit: int, patrons_changed_since: datetime | None = None
) -> list[int]:
    """Card ids of recorded passes, in id order; with `patrons_changed_since`, only those whose
    holder has an audit event since then (a card, block, fee or collection change)."""
    query = select(WalletPass.card_id).where(WalletPass.card_id > after_id)
    if patrons_changed_since is not None:
        changed = select(AuditEvent.patron_id).where(
            AuditEvent.at >= patrons_changed_since, AuditEvent.patron_id.is_not(None)
        )
        query = query.join(Card, Card.id == WalletPass.card_id).where(Card.patron_id.in_(changed))
    query = query.order_by(WalletPass.card_id).limit(limit)
    return list((await ctx.session.scalars(query)).all())
