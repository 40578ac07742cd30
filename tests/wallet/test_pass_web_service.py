"""Apple's pass web service, as a phone uses it: register, ask what changed, fetch the pass.

The pass is made as the portal hands it out (`signed_pass`); its pass.json names the web
service and the token, and every call below uses only what a phone would have.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from libcard.accounts.portal import report_own_card_lost
from libcard.blocks.service import lift_block, place_staff_block
from libcard.cards.service import find_card
from libcard.config import Settings
from libcard.context import ActorKind
from libcard.kit.clock import FrozenClock
from libcard.runtime import Runtime
from libcard.wallet.apple_service import (
    WRONG_TOKEN_WINDOW,
    WRONG_TOKENS,
    apple_wallet,
    signed_pass,
)
from libcard.wallet.models import WalletRegistration
from libcard.wallet.updates import wallet_updates, wallet_updates_daily
from libcard.web.app import create_app
from tests.conftest import TEST_KEYS, World
from tests.wallet.pki import PASS_TYPE, PassPki
from tests.wallet.support import NO_GOOGLE, PUBLIC, wallet_settings

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PUSH_TOKEN = "ab" * 32


@pytest.fixture
async def runtime(
    database_url: str, clock: FrozenClock, tmp_path: Path, pki: PassPki
) -> AsyncIterator[Runtime]:
    """Apple Wallet only: the update jobs then talk to nobody but the phones' push service."""
    rt = Runtime.build(wallet_settings(database_url, tmp_path, pki, **NO_GOOGLE), clock=clock)
    yield rt
    await rt.close()


@dataclass
class HandedOut:
    patron_id: int
    card_id: int
    serial: str
    token: str
    pass_json: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"ApplePass {self.token}"}

    @property
    def registration(self) -> str:
        return f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE}/{self.serial}"


def read_pass(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        content: dict[str, Any] = json.loads(archive.read("pass.json"))
        return content


async def hand_out(world: World) -> HandedOut:
    """A new patron downloads the pass of their e-card."""
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        card = await find_card(ctx, patron.ecard)
    return await hand_out_card(world, patron.id, card.id)


async def hand_out_card(world: World, patron_id: int, card_id: int) -> HandedOut:
    runtime = world.runtime
    wallet = apple_wallet(runtime.settings, runtime.keyring)
    assert wallet is not None
    async with runtime.unit() as ctx:
        signed = await signed_pass(ctx, wallet, card_id)
    content = read_pass(signed.data)
    return HandedOut(
        patron_id, card_id, content["serialNumber"], content["authenticationToken"], content
    )


async def test_the_pass_names_the_web_service_and_a_token(world: World) -> None:
    handed = await hand_out(world)
    assert handed.pass_json["webServiceURL"] == f"{PUBLIC}/wallet/apple"
    assert len(handed.token) >= 16
    assert handed.serial == f"card-{handed.card_id}"
    # The token is not the card number, and the card number is not in the serial.
    assert handed.pass_json["barcodes"][0]["message"] not in handed.token + handed.serial


async def test_registration_needs_the_passes_own_token(
    world: World, phone: httpx.AsyncClient
) -> None:
    handed = await hand_out(world)
    other = await hand_out(world)
    body = {"pushToken": PUSH_TOKEN}
    for headers in (
        {},
        {"Authorization": "ApplePass wrong-token-of-enough-length"},
        {"Authorization": f"Bearer {handed.token}"},
        other.auth,  # a real token, of another pass
    ):
        answer = await phone.post(handed.registration, json=body, headers=headers)
        assert answer.status_code == 401, headers
    unknown = handed.registration.replace(handed.serial, "card-999999")
    assert (await phone.post(unknown, json=body, headers=handed.auth)).status_code == 401
    other_type = handed.registration.replace(PASS_TYPE, "pass.org.example.other")
    assert (await phone.post(other_type, json=body, headers=handed.auth)).status_code == 404
    async with world.runtime.unit(readonly=True) as ctx:
        assert (await ctx.session.scalars(select(WalletRegistration))).all() == []


async def test_register_twice_then_unregister(world: World, phone: httpx.AsyncClient) -> None:
    handed = await hand_out(world)
    body = {"pushToken": PUSH_TOKEN}
    first = await phone.post(handed.registration, json=body, headers=handed.auth)
    assert first.status_code == 201
    again = await phone.post(handed.registration, json=body, headers=handed.auth)
    assert again.status_code == 200
    listing = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE}"
    answer = await phone.get(listing)
    assert answer.status_code == 200
    assert answer.json()["serialNumbers"] == [handed.serial]
    tag = answer.json()["lastUpdated"]
    assert (await phone.get(listing, params={"passesUpdatedSince": tag})).status_code == 204

    removed = await phone.delete(handed.registration, headers=handed.auth)
    assert removed.status_code == 200
    assert (await phone.get(listing)).status_code == 204


async def test_bad_registrations_are_refused_with_a_reason(
    world: World, phone: httpx.AsyncClient
) -> None:
    handed = await hand_out(world)
    answer = await phone.post(
        handed.registration, json={"pushToken": "not hex!"}, headers=handed.auth
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "wallet_push_token"
    missing = await phone.post(handed.registration, json={}, headers=handed.auth)
    assert missing.status_code == 422
    odd_device = handed.registration.replace(DEVICE, "dev%20ice")
    answer = await phone.post(odd_device, json={"pushToken": PUSH_TOKEN}, headers=handed.auth)
    assert answer.status_code == 422


async def test_a_card_reported_lost_is_listed_as_updated_and_its_pass_is_void(
    world: World, phone: httpx.AsyncClient, clock: FrozenClock
) -> None:
    handed = await hand_out(world)
    await phone.post(handed.registration, json={"pushToken": PUSH_TOKEN}, headers=handed.auth)
    listing = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE}"
    tag = (await phone.get(listing)).json()["lastUpdated"]
    latest_url = f"/wallet/apple/v1/passes/{PASS_TYPE}/{handed.serial}"
    before = await phone.get(latest_url, headers=handed.auth)
    assert before.status_code == 200
    assert before.headers["content-type"] == "application/vnd.apple.pkpass"
    unchanged = await phone.get(
        latest_url,
        headers={**handed.auth, "If-Modified-Since": before.headers["Last-Modified"]},
    )
    assert unchanged.status_code == 304

    clock.advance(timedelta(minutes=3))
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=handed.patron_id)) as ctx:
        await report_own_card_lost(ctx, handed.patron_id, handed.card_id)

    # The phone asks at once (before any job ran): the pass is listed as changed ...
    answer = await phone.get(listing, params={"passesUpdatedSince": tag})
    assert answer.status_code == 200
    assert answer.json()["serialNumbers"] == [handed.serial]
    assert int(answer.json()["lastUpdated"]) > int(tag)
    # ... and the pass it fetches is void, says lost, and has no barcode.
    after = await phone.get(
        latest_url,
        headers={**handed.auth, "If-Modified-Since": before.headers["Last-Modified"]},
    )
    assert after.status_code == 200
    content = read_pass(after.content)
    assert content["voided"] is True
    assert "barcodes" not in content
    statuses = {f["key"]: f["value"] for f in content["storeCard"]["auxiliaryFields"]}
    assert statuses["status"] == "status.lost"
    # The device is due a push.
    async with world.runtime.unit(readonly=True) as ctx:
        registration = await ctx.session.scalar(select(WalletRegistration))
        assert registration is not None
        assert registration.push_pending_since is not None


async def test_the_job_finds_a_staff_block_and_its_lifting(
    world: World, phone: httpx.AsyncClient, clock: FrozenClock
) -> None:
    handed = await hand_out(world)
    await phone.post(handed.registration, json={"pushToken": PUSH_TOKEN}, headers=handed.auth)
    latest_url = f"/wallet/apple/v1/passes/{PASS_TYPE}/{handed.serial}"

    clock.advance(timedelta(minutes=1))
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        block = await place_staff_block(ctx, handed.patron_id, "Damaged books")
        block_id = block.id
    report = await wallet_updates(world.runtime, clock.now())
    assert report.passes_changed == 1
    content = read_pass((await phone.get(latest_url, headers=handed.auth)).content)
    statuses = {f["key"]: f["value"] for f in content["storeCard"]["auxiliaryFields"]}
    assert statuses["status"] == "status.blocked"
    assert "barcodes" in content  # a blocked card is still the patron's card

    clock.advance(timedelta(minutes=1))
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await lift_block(ctx, block_id)
    assert (await wallet_updates(world.runtime, clock.now())).passes_changed == 1
    content = read_pass((await phone.get(latest_url, headers=handed.auth)).content)
    statuses = {f["key"]: f["value"] for f in content["storeCard"]["auxiliaryFields"]}
    assert statuses["status"] == "status.active"
    # Nothing changed since: the next run finds nothing.
    assert (await wallet_updates(world.runtime, clock.now())).passes_changed == 0


async def test_the_daily_job_voids_the_pass_of_an_expired_card(
    world: World, clock: FrozenClock
) -> None:
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        card = await find_card(ctx, patron.ecard)
        card.expires_at = clock.now() + timedelta(days=30)
    handed = await hand_out_card(world, patron.id, card.id)
    assert handed.pass_json.get("voided") is not True
    assert "expirationDate" in handed.pass_json
    # A month on, nobody did anything (no audit event): only the daily run sees it.
    clock.advance(timedelta(days=31))
    assert (await wallet_updates(world.runtime, clock.now())).passes_changed == 0
    assert (await wallet_updates_daily(world.runtime, clock.now())).passes_changed == 1
    assert (await wallet_updates_daily(world.runtime, clock.now())).passes_changed == 0


async def test_the_log_endpoint_takes_what_wallet_reports(phone: httpx.AsyncClient) -> None:
    answer = await phone.post("/wallet/apple/v1/log", json={"logs": ["Invalid pass"]})
    assert answer.status_code == 200
    assert (await phone.post("/wallet/apple/v1/log", json={"logs": "x"})).status_code == 422


async def test_without_apple_wallet_the_service_is_not_there(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url,
        peppers=TEST_KEYS,  # type: ignore[arg-type]
        pepper_file=tmp_path / "unused-secrets.json",
        run_jobs=False,
    )
    runtime = Runtime.build(settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            answer = await client.get(f"/wallet/apple/v1/passes/{PASS_TYPE}/card-1")
            assert answer.status_code == 404
            assert answer.json()["code"] == "wallet_unavailable"
    finally:
        await runtime.close()


async def test_an_address_sending_many_wrong_tokens_is_refused_for_a_while(
    world: World, phone: httpx.AsyncClient, clock: FrozenClock
) -> None:
    handed = await hand_out(world)
    wrong = {"Authorization": "ApplePass " + "0" * 64}
    latest_url = f"/wallet/apple/v1/passes/{PASS_TYPE}/{handed.serial}"
    for _ in range(WRONG_TOKENS):
        assert (await phone.get(latest_url, headers=wrong)).status_code == 401
    # From now on even the right token is refused from this address ...
    refused = await phone.get(latest_url, headers=handed.auth)
    assert refused.status_code == 429
    # ... until the window has passed.
    clock.advance(WRONG_TOKEN_WINDOW)
    assert (await phone.get(latest_url, headers=handed.auth)).status_code == 200
