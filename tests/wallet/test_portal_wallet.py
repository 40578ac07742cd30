"""The wallet buttons on "My card": Apple's .pkpass download and Google's save link (R3).

The installation is configured as an operator would: Apple Wallet from the test PKI's files
and Google Wallet from a service account key file, both named by settings. Each patron only
ever gets the pass of their own e-card in use; with a wallet not set up its button is gone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from libcard.cards.models import Card
from libcard.kit.clock import FrozenClock
from libcard.kit.i18n import translate
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import PatronHandle, World
from tests.portal.conftest import csrf, login
from tests.wallet.support import (
    GOOGLE_EMAIL,
    GOOGLE_ISSUER,
    NO_APPLE,
    NO_GOOGLE,
    PKPASS_TYPE,
    PUBLIC,
    card_id_of,
    pass_json,
    read_pkpass,
    recorded_pass,
    saved_object,
    status_of_pass,
    with_settings,
)


class Browsers:
    """Browsers on apps of one database; each app reads its wallet settings once."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self.stack = stack

    async def open(self, app: FastAPI, language: str = "en") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=PUBLIC,
            headers={"Accept-Language": language},
        )
        return await self.stack.enter_async_context(client)

    async def patron_on(
        self, app: FastAPI, patron: PatronHandle, language: str = "en"
    ) -> httpx.AsyncClient:
        client = await self.open(app, language)
        logged_in = await login(client, patron.ecard, patron.password)
        assert logged_in.status_code == 303, logged_in.text
        # The language switch, as a patron uses it: it also becomes their preferred language.
        switched = await client.get(f"/language?to={language}&next=/card")
        assert switched.status_code == 303, switched.text
        return client


@pytest.fixture
async def browsers() -> AsyncIterator[Browsers]:
    async with AsyncExitStack() as stack:
        yield Browsers(stack)


async def card_page(client: httpx.AsyncClient) -> str:
    page = await client.get("/card")
    assert page.status_code == 200, page.text
    return page.text


# --- the buttons ----------------------------------------------------------------------------


async def test_my_card_offers_both_wallets_with_names_in_the_pages_language(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    app = create_app(runtime)
    patron = await world.patron()
    for language in ("en", "da", "de"):
        page = await card_page(await browsers.patron_on(app, patron, language))
        apple = translate(language, "Add to Apple Wallet")
        google = translate(language, "Save to Google Wallet")
        assert f'<a class="button" id="wallet-apple" href="/card/wallet/apple">{apple}</a>' in page
        assert (
            f'<a class="button" id="wallet-google" href="/card/wallet/google">{google}</a>' in page
        )
        assert "<script" not in page


async def test_with_no_wallet_set_up_there_are_no_buttons_and_the_routes_are_404(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    app = create_app(with_settings(runtime, **NO_APPLE, **NO_GOOGLE))
    patron = await world.patron()
    client = await browsers.patron_on(app, patron)
    page = await card_page(client)
    assert "/card/wallet/" not in page
    assert 'id="card-number"' in page  # the card itself is shown as always
    for wallet in ("apple", "google"):
        refused = await client.get(f"/card/wallet/{wallet}")
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("text/html")
        assert "Saving the card to this wallet is not offered here." in refused.text
    assert await recorded_pass(runtime, await card_id_of(runtime, patron.ecard)) is None


async def test_each_wallet_is_offered_on_its_own(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    patron = await world.patron()
    apple_only = await browsers.patron_on(create_app(with_settings(runtime, **NO_GOOGLE)), patron)
    page = await card_page(apple_only)
    assert 'id="wallet-apple"' in page
    assert 'id="wallet-google"' not in page
    assert (await apple_only.get("/card/wallet/google")).status_code == 404

    google_only = await browsers.patron_on(create_app(with_settings(runtime, **NO_APPLE)), patron)
    page = await card_page(google_only)
    assert 'id="wallet-apple"' not in page
    assert 'id="wallet-google"' in page
    assert (await google_only.get("/card/wallet/apple")).status_code == 404


async def test_apple_files_that_cannot_be_read_hide_the_button_instead_of_failing(
    world: World, runtime: Runtime, browsers: Browsers, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate")
    app = create_app(with_settings(runtime, apple_pass_certificate_path=broken))
    client = await browsers.patron_on(app, await world.patron())
    page = await card_page(client)
    assert 'id="wallet-apple"' not in page
    assert 'id="wallet-google"' in page
    assert (await client.get("/card/wallet/apple")).status_code == 404


async def test_an_expired_ecard_shows_no_buttons_and_gets_no_pass(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    app = create_app(runtime)
    patron = await world.patron()
    client = await browsers.patron_on(app, patron)
    async with runtime.unit() as ctx:
        await ctx.session.execute(
            update(Card)
            .where(Card.number == patron.ecard)
            .values(expires_at=runtime.clock.now() - timedelta(days=1))
        )
    page = await card_page(client)
    assert 'class="banner"' in page  # the card is shown, as not usable
    assert "/card/wallet/" not in page
    for wallet in ("apple", "google"):
        refused = await client.get(f"/card/wallet/{wallet}")
        assert refused.status_code == 404
        assert "Only an e-card in use can be saved to a wallet." in refused.text
    assert await recorded_pass(runtime, await card_id_of(runtime, patron.ecard)) is None


async def test_a_patron_who_is_not_logged_in_is_sent_to_the_login(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    client = await browsers.open(create_app(runtime))
    for wallet in ("apple", "google"):
        answer = await client.get(f"/card/wallet/{wallet}")
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next=/card/wallet/{wallet}"


# --- Apple: the .pkpass ---------------------------------------------------------------------


async def test_the_downloaded_pass_is_the_patrons_own_ecard(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    patron = await world.patron(first_name="Ole", last_name="Krogh")
    client = await browsers.patron_on(create_app(runtime), patron)
    answer = await client.get("/card/wallet/apple")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == PKPASS_TYPE
    assert answer.headers["content-disposition"] == 'attachment; filename="library-card.pkpass"'
    assert answer.headers["cache-control"] == "no-store"
    package = read_pkpass(answer.content)
    assert {"pass.json", "manifest.json", "signature"} <= set(package)
    content = json.loads(package["pass.json"])
    card_id = await card_id_of(runtime, patron.ecard)
    assert content["serialNumber"] == f"card-{card_id}"
    assert content["storeCard"]["primaryFields"][0]["value"] == "Ole Krogh"
    assert content["storeCard"]["secondaryFields"][0]["value"] == patron.ecard
    assert content["barcodes"][0]["message"] == patron.ecard
    assert status_of_pass(content) == "status.active"
    assert "voided" not in content
    assert content["webServiceURL"] == f"{PUBLIC}/wallet/apple"
    # Handed out, so that later changes to the card reach the phone.
    assert await recorded_pass(runtime, card_id) is not None


async def test_two_patrons_each_get_only_their_own_pass(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    app = create_app(runtime)
    anna = await world.patron(first_name="Anna", last_name="Alm")
    bo = await world.patron(first_name="Bo", last_name="Bak")
    bos_card = await card_id_of(runtime, bo.ecard)
    annas = await browsers.patron_on(app, anna)
    bos = await browsers.patron_on(app, bo)

    # The path names no card; whatever Anna adds to it, she gets her own.
    for path in ("/card/wallet/apple", f"/card/wallet/apple?card_id={bos_card}"):
        content = pass_json((await annas.get(path)).content)
        assert content["barcodes"][0]["message"] == anna.ecard
        assert content["serialNumber"] != f"card-{bos_card}"
    content = pass_json((await bos.get("/card/wallet/apple")).content)
    assert content["barcodes"][0]["message"] == bo.ecard
    assert content["serialNumber"] == f"card-{bos_card}"


async def test_after_a_lost_ecard_the_pass_is_of_the_new_one(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    patron = await world.patron()
    client = await browsers.patron_on(create_app(runtime), patron)
    first = pass_json((await client.get("/card/wallet/apple")).content)

    form = await client.get("/lost-card")
    lost_id = await card_id_of(runtime, patron.ecard)
    reported = await client.post(
        "/lost-card", data={"card_id": str(lost_id), "confirm": "yes", "csrf": csrf(form.text)}
    )
    assert reported.status_code == 200, reported.text

    page = await card_page(client)
    assert 'id="wallet-apple"' in page  # the new e-card is in use
    second = pass_json((await client.get("/card/wallet/apple")).content)
    assert second["serialNumber"] != first["serialNumber"]
    assert second["barcodes"][0]["message"] != patron.ecard
    assert status_of_pass(second) == "status.active"


# --- Google: the save link ------------------------------------------------------------------


async def test_the_google_button_leads_to_a_signed_save_link_of_the_own_card(
    world: World, runtime: Runtime, browsers: Browsers
) -> None:
    anna = await world.patron(first_name="Anna", last_name="Alm")
    bo = await world.patron()
    client = await browsers.patron_on(create_app(runtime), anna, "de")
    answer = await client.get("/card/wallet/google")

    assert answer.status_code == 303, answer.text
    claims, card_object = saved_object(answer.headers["location"])
    card_id = await card_id_of(runtime, anna.ecard)
    assert claims["iss"] == GOOGLE_EMAIL
    assert claims["aud"] == "google"
    assert claims["typ"] == "savetowallet"
    assert claims["origins"] == [PUBLIC]
    assert card_object["id"] == f"{GOOGLE_ISSUER}.card-{card_id}"
    assert card_object["state"] == "ACTIVE"
    assert card_object["barcode"]["value"] == anna.ecard
    assert card_object["header"]["defaultValue"]["value"] == "Anna Alm"
    assert card_object["header"]["defaultValue"]["language"] == "de"
    assert bo.ecard not in answer.headers["location"]

    record = await recorded_pass(runtime, card_id)
    assert record is not None
    assert record.google_offered_at == runtime.clock.now()
    # Offered again later: the first offer is what is remembered.
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(minutes=5))
    await client.get("/card/wallet/google")
    again = await recorded_pass(runtime, card_id)
    assert again is not None
    assert again.google_offered_at == record.google_offered_at
