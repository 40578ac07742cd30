"""The update jobs keep Google's copy of a saved card current (against the local stand-in)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from libcard.accounts.portal import report_own_card_lost
from libcard.cards.service import find_card
from libcard.config import Settings
from libcard.context import ActorKind
from libcard.kit.clock import FrozenClock
from libcard.runtime import Runtime
from libcard.wallet.google_rules import object_id
from libcard.wallet.models import WalletPass
from libcard.wallet.service import card_pass_view, note_pass
from libcard.wallet.updates import wallet_updates
from tests.conftest import TEST_KEYS, World
from tests.wallet.google_sim import GoogleWalletSim, serving
from tests.wallet.test_google_wallet import EMAIL, ISSUER, ISSUER_ID, KEY_ID, key_document


@pytest.fixture(scope="module")
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def sim(google_key: rsa.RSAPrivateKey) -> AsyncIterator[GoogleWalletSim]:
    stand_in = GoogleWalletSim(
        public_key=google_key.public_key(), client_email=EMAIL, key_id=KEY_ID
    )
    async with serving(stand_in) as running:
        yield running


@pytest.fixture
async def runtime(
    database_url: str,
    clock: FrozenClock,
    tmp_path: Path,
    sim: GoogleWalletSim,
    google_key: rsa.RSAPrivateKey,
) -> AsyncIterator[Runtime]:
    key_path = tmp_path / "service-account.json"
    key_path.write_text(json.dumps(key_document(google_key, sim.token_url)))
    settings = Settings(
        database_url=database_url,
        peppers=TEST_KEYS,  # type: ignore[arg-type]
        pepper_file=tmp_path / "unused-secrets.json",
        public_url="https://library.example.org",
        google_wallet_issuer_id=ISSUER_ID,
        google_wallet_key_path=key_path,
        google_wallet_api_url=sim.api_url,
        run_jobs=False,
    )
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


async def offer_to_google(world: World) -> tuple[int, int]:
    """A patron is handed a save link (as the portal does): the pass is recorded as offered."""
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        card = await find_card(ctx, patron.ecard)
        recorded = await note_pass(ctx, await card_pass_view(ctx, card.id))
        recorded.google_offered_at = ctx.clock.now()
        return patron.id, card.id


async def test_an_offered_pass_reaches_google_and_follows_the_card(
    world: World, sim: GoogleWalletSim, clock: FrozenClock
) -> None:
    patron_id, card_id = await offer_to_google(world)
    report = await wallet_updates(world.runtime, clock.now())
    assert report.google_updated == 1, report.summary()
    stored = sim.objects[object_id(ISSUER, card_id)]
    assert stored["state"] == "ACTIVE"
    assert stored["classId"] in sim.classes
    # Nothing changed: Google is not asked again.
    assert (await wallet_updates(world.runtime, clock.now())).google_updated == 0

    clock.advance(timedelta(minutes=2))
    patron = world.actor(ActorKind.PATRON, patron_id=patron_id)
    async with world.runtime.unit(patron) as ctx:
        await report_own_card_lost(ctx, patron_id, card_id)
    report = await wallet_updates(world.runtime, clock.now())
    assert (report.passes_changed, report.google_updated) == (1, 1), report.summary()
    stored = sim.objects[object_id(ISSUER, card_id)]
    assert stored["state"] == "INACTIVE"
    assert "barcode" not in stored
    async with world.runtime.unit(readonly=True) as ctx:
        recorded = await ctx.session.scalar(select(WalletPass))
        assert recorded is not None
        assert recorded.google_fingerprint == recorded.fingerprint


async def test_a_pass_never_offered_to_google_is_not_sent(
    world: World, sim: GoogleWalletSim, clock: FrozenClock
) -> None:
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        card = await find_card(ctx, patron.ecard)
        await note_pass(ctx, await card_pass_view(ctx, card.id))  # an Apple download only
    report = await wallet_updates(world.runtime, clock.now())
    assert report.google_updated == 0
    assert sim.objects == {}


async def test_google_refusing_is_retried_at_the_next_run(
    world: World, sim: GoogleWalletSim, clock: FrozenClock, tmp_path: Path
) -> None:
    _, card_id = await offer_to_google(world)
    good_url = sim.url
    sim.url = "http://127.0.0.1:9"  # nothing answers there: the job reports a failure
    world.runtime.settings.google_wallet_api_url = sim.api_url
    report = await wallet_updates(world.runtime, clock.now())
    assert report.failures >= 1
    assert report.google_updated == 0
    sim.url = good_url
    world.runtime.settings.google_wallet_api_url = sim.api_url
    report = await wallet_updates(world.runtime, clock.now())
    assert report.google_updated == 1
    assert object_id(ISSUER, card_id) in sim.objects
