"""The institution's app and the wallets: `passes` of GET /api/v1/me/card and the pass route.

A patron token reaches its own patron's e-card only; the links it is given are the public
address of the .pkpass route and a signed "Save to Google Wallet" link of that card.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from libcard.access.scopes import ALL_SCOPES
from libcard.access.service import create_token
from libcard.blocks.service import place_staff_block
from libcard.cards.models import Card
from libcard.context import ActorKind
from libcard.kit.i18n import translate
from libcard.runtime import Runtime
from libcard.wallet.offers import CARD_NOT_IN_USE, NOTHING_OFFERED
from libcard.web.app import create_app
from tests.api.conftest import API, assert_problem, bearer
from tests.conftest import PatronHandle, World
from tests.wallet.support import (
    GOOGLE_ISSUER,
    NO_APPLE,
    NO_GOOGLE,
    PKPASS_TYPE,
    PUBLIC,
    card_id_of,
    pass_json,
    recorded_pass,
    saved_object,
    with_settings,
)

PASS_URL = f"{PUBLIC}{API}/me/card/pass.pkpass"


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(runtime)) as running:
        yield running


def app_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)


async def app_login(client: httpx.AsyncClient, patron: PatronHandle) -> dict[str, str]:
    """The app's login, as the app does it: POST /me/token with the card number."""
    response = await client.post(
        f"{API}/me/token", json={"login": patron.ecard, "password": patron.password}
    )
    assert response.status_code == 201, response.text
    return bearer(response.json()["access_token"])


async def my_card(
    client: httpx.AsyncClient, headers: dict[str, str], language: str = "en"
) -> dict[str, Any]:
    response = await client.get(f"{API}/me/card", headers={**headers, "Accept-Language": language})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def pass_number(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """The card number the token's pass carries in its barcode."""
    answer = await client.get(PASS_URL, headers=headers)
    assert answer.status_code == 200, answer.text
    number: str = pass_json(answer.content)["barcodes"][0]["message"]
    return number


async def test_the_card_names_both_passes_of_the_own_ecard(
    world: World, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    patron = await world.patron(first_name="Ole", last_name="Krogh")
    headers = await app_login(client, patron)

    passes = (await my_card(client, headers, "da"))["passes"]
    assert passes["apple"] == PASS_URL
    assert passes["wallet_available"] is True
    assert passes["reason"] is None
    claims, card_object = saved_object(passes["google"])
    card_id = await card_id_of(runtime, patron.ecard)
    assert claims["origins"] == [PUBLIC]
    assert card_object["id"] == f"{GOOGLE_ISSUER}.card-{card_id}"
    assert card_object["barcode"]["value"] == patron.ecard
    assert card_object["header"]["defaultValue"] == {"language": "da", "value": "Ole Krogh"}
    record = await recorded_pass(runtime, card_id)
    assert record is not None
    assert record.google_offered_at is not None


async def test_the_pass_route_answers_the_own_pkpass(
    world: World, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    patron = await world.patron()
    headers = await app_login(client, patron)
    answer = await client.get(PASS_URL, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == PKPASS_TYPE
    assert answer.headers["content-disposition"] == 'attachment; filename="library-card.pkpass"'
    assert answer.headers["cache-control"] == "no-store"
    content = pass_json(answer.content)
    card_id = await card_id_of(runtime, patron.ecard)
    assert content["serialNumber"] == f"card-{card_id}"
    assert content["barcodes"][0]["message"] == patron.ecard
    assert await recorded_pass(runtime, card_id) is not None


async def test_a_token_of_patron_a_never_gets_patron_bs_pass(
    world: World, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    anna = await world.patron()
    bo = await world.patron()
    anna_headers = await app_login(client, anna)
    bo_headers = await app_login(client, bo)
    assert await pass_number(client, anna_headers) == anna.ecard
    assert await pass_number(client, bo_headers) == bo.ecard
    bos = await my_card(client, bo_headers)
    assert saved_object(bos["passes"]["google"])[1]["barcode"]["value"] == bo.ecard

    # A token made for Anna with every scope still reaches Anna's card only.
    async with runtime.unit() as ctx:
        _, secret = await create_token(
            ctx,
            name="wide",
            actor_kind=ActorKind.PATRON,
            scopes=ALL_SCOPES,
            institution_id=world.institution_id,
            patron_id=anna.id,
        )
    wide = bearer(secret)
    assert await pass_number(client, wide) == anna.ecard
    google = saved_object((await my_card(client, wide))["passes"]["google"])[1]
    assert google["barcode"]["value"] == anna.ecard


async def test_only_a_patron_token_gets_a_pass(
    world: World, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    assert_problem(await client.get(PASS_URL), 401, "token_required")
    async with runtime.unit() as ctx:
        _, secret = await create_token(
            ctx,
            name="admin",
            actor_kind=ActorKind.ADMIN,
            scopes=ALL_SCOPES,
            institution_id=world.institution_id,
        )
    admin = await client.get(PASS_URL, headers=bearer(secret))
    assert_problem(admin, 403, "patron_token_required")


async def test_with_no_wallet_set_up_the_links_are_null_with_a_reason(
    world: World, runtime: Runtime
) -> None:
    app = create_app(with_settings(runtime, **NO_APPLE, **NO_GOOGLE))
    patron = await world.patron()
    async with app_client(app) as client:
        headers = await app_login(client, patron)
        for language in ("en", "da", "de"):
            passes = (await my_card(client, headers, language))["passes"]
            assert passes == {
                "apple": None,
                "google": None,
                "wallet_available": False,
                "reason": translate(language, NOTHING_OFFERED),
            }
        assert (await my_card(client, headers))["passes"]["reason"] == (
            "This library does not offer saving the card to a wallet."
        )
        assert_problem(await client.get(PASS_URL, headers=headers), 404, "wallet_unavailable")
    assert await recorded_pass(runtime, await card_id_of(runtime, patron.ecard)) is None


async def test_each_wallet_is_linked_only_when_it_is_set_up(world: World, runtime: Runtime) -> None:
    patron = await world.patron()
    async with app_client(create_app(with_settings(runtime, **NO_GOOGLE))) as client:
        passes = (await my_card(client, await app_login(client, patron)))["passes"]
        assert passes["apple"] == PASS_URL
        assert passes["google"] is None
        assert passes["wallet_available"] is True
    async with app_client(create_app(with_settings(runtime, **NO_APPLE))) as client:
        headers = await app_login(client, patron)
        passes = (await my_card(client, headers))["passes"]
        assert passes["apple"] is None
        assert passes["google"].startswith("https://pay.google.com/gp/v/save/")
        assert_problem(await client.get(PASS_URL, headers=headers), 404, "wallet_unavailable")


async def test_a_blocked_account_still_gets_its_passes_which_say_so(
    world: World, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    patron = await world.patron()
    async with runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "Noise in the reading room")
    headers = await app_login(client, patron)
    passes = (await my_card(client, headers))["passes"]
    assert passes["wallet_available"] is True
    content = pass_json((await client.get(PASS_URL, headers=headers)).content)
    [status] = [f for f in content["storeCard"]["auxiliaryFields"] if f["key"] == "status"]
    assert status["value"] == "status.blocked"
    assert content["barcodes"][0]["message"] == patron.ecard


async def test_the_openapi_documents_the_pass_route_and_the_links(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get(f"{API}/openapi.json")).json()
    operation = document["paths"][f"{API}/me/card/pass.pkpass"]["get"]
    assert "Apple Wallet" in operation["description"]
    assert PKPASS_TYPE in operation["responses"]["200"]["content"]
    assert "wallet_unavailable" in operation["responses"]["404"]["description"]
    passes = document["components"]["schemas"]["WalletPasses"]["properties"]
    for name in ("apple", "google", "wallet_available", "reason"):
        assert passes[name]["description"], name
    assert "pass.pkpass" in passes["apple"]["description"]


async def test_an_expired_ecard_gets_no_links_and_no_pass(
    world: World, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    patron = await world.patron()
    headers = await app_login(client, patron)
    async with runtime.unit() as ctx:
        await ctx.session.execute(
            update(Card)
            .where(Card.number == patron.ecard)
            .values(expires_at=runtime.clock.now() - timedelta(days=1))
        )
    body = await my_card(client, headers)
    assert body["state"] == "expired"
    assert body["passes"] == {
        "apple": None,
        "google": None,
        "wallet_available": False,
        "reason": translate("en", CARD_NOT_IN_USE),
    }
    assert_problem(await client.get(PASS_URL, headers=headers), 404, "wallet_no_card")
    assert await recorded_pass(runtime, await card_id_of(runtime, patron.ecard)) is None
