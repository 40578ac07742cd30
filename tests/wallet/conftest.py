"""Wallet test fixtures: the test PKI, a runtime with both wallets set up (modules that want
another installation override `runtime`), and a client on its app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from libcard.kit.clock import FrozenClock
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.wallet.pki import PassPki, make_pki
from tests.wallet.support import PUBLIC, wallet_settings


@pytest.fixture(scope="session")
def pki() -> PassPki:
    return make_pki()


@pytest.fixture
async def runtime(
    database_url: str, clock: FrozenClock, tmp_path: Path, pki: PassPki
) -> AsyncIterator[Runtime]:
    """The test runtime with Apple Wallet and Google Wallet both set up."""
    rt = Runtime.build(wallet_settings(database_url, tmp_path, pki), clock=clock)
    yield rt
    await rt.close()


@pytest.fixture
async def phone(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the app of the module's runtime, as a phone's Wallet calls it."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client
