"""A changed pass is pushed to the phones that registered it (against the APNs stand-in)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from libcard.blocks.service import place_staff_block
from libcard.context import ActorKind
from libcard.kit.clock import FrozenClock
from libcard.runtime import Runtime
from libcard.wallet.models import WalletRegistration
from libcard.wallet.updates import wallet_updates
from tests.conftest import World
from tests.wallet.apns_server import ApnsTestServer, ServerTls, make_server_tls
from tests.wallet.pki import PASS_TYPE, PassPki
from tests.wallet.support import NO_GOOGLE, wallet_settings
from tests.wallet.test_pass_web_service import PUSH_TOKEN, hand_out

OTHER_TOKEN = "cd" * 32


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ServerTls:
    return make_server_tls(tmp_path_factory.mktemp("push-server"))


@pytest.fixture(scope="module")
def push_service(
    pki: PassPki, server_tls: ServerTls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApnsTestServer]:
    folder = tmp_path_factory.mktemp("push-client-ca")
    files = pki.write(folder)
    trusted = folder / "trusted.pem"
    trusted.write_bytes(files["root"].read_bytes() + files["wwdr"].read_bytes())
    running = ApnsTestServer(server_tls, trusted)
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def runtime(
    database_url: str,
    clock: FrozenClock,
    tmp_path: Path,
    pki: PassPki,
    push_service: ApnsTestServer,
    server_tls: ServerTls,
) -> AsyncIterator[Runtime]:
    settings = wallet_settings(
        database_url,
        tmp_path,
        pki,
        **NO_GOOGLE,
        apple_push_url=push_service.url,
        apple_push_ca_path=server_tls.ca,
    )
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


async def test_a_block_is_pushed_once_to_each_registered_phone(
    world: World,
    phone: httpx.AsyncClient,
    clock: FrozenClock,
    push_service: ApnsTestServer,
) -> None:
    handed = await hand_out(world)
    for device, token in (("phone1", PUSH_TOKEN), ("phone2", OTHER_TOKEN)):
        path = handed.registration.replace("a1b2c3d4e5f60718293a4b5c6d7e8f90", device)
        answer = await phone.post(path, json={"pushToken": token}, headers=handed.auth)
        assert answer.status_code == 201
    before = len(push_service.requests_for(PUSH_TOKEN))

    clock.advance(timedelta(minutes=1))
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, handed.patron_id, "Damaged books")
    report = await wallet_updates(world.runtime, clock.now())
    assert report.passes_changed == 1
    assert report.pushes_sent == 2, report.summary()
    pushes = push_service.requests_for(PUSH_TOKEN)[before:]
    assert len(pushes) == 1
    assert pushes[0].method == "POST"
    assert pushes[0].headers["apns-topic"] == PASS_TYPE
    assert json.loads(pushes[0].body) == {}
    assert pushes[0].http_version == "h2"
    assert PASS_TYPE in (pushes[0].client_subject or "")
    # Told once: the next run pushes nothing.
    again = await wallet_updates(world.runtime, clock.now())
    assert again.pushes_sent == 0
    assert len(push_service.requests_for(PUSH_TOKEN)) == before + 1


async def test_a_failed_push_is_retried_and_a_gone_phone_forgotten(
    world: World,
    phone: httpx.AsyncClient,
    clock: FrozenClock,
    push_service: ApnsTestServer,
) -> None:
    handed = await hand_out(world)
    flaky, gone = "ef" * 32, "0a" * 32
    for device, token in (("flaky", flaky), ("gone", gone)):
        path = handed.registration.replace("a1b2c3d4e5f60718293a4b5c6d7e8f90", device)
        await phone.post(path, json={"pushToken": token}, headers=handed.auth)
    push_service.answer(flaky, 500, "InternalServerError")
    push_service.answer(gone, 410, "Unregistered")

    clock.advance(timedelta(minutes=1))
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, handed.patron_id, "Damaged books")
    report = await wallet_updates(world.runtime, clock.now())
    assert (report.pushes_sent, report.devices_gone, report.failures) == (0, 1, 1)
    async with world.runtime.unit(readonly=True) as ctx:
        left = (await ctx.session.scalars(select(WalletRegistration))).all()
        assert [r.push_token for r in left] == [flaky]
        assert left[0].push_pending_since is not None

    push_service.answer(flaky, 200)
    retried = await wallet_updates(world.runtime, clock.now())
    assert (retried.pushes_sent, retried.passes_changed) == (1, 0)
