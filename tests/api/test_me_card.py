"""The institution's app: a patron logs in for a token and reads their own e-card (R3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from libcard.access.models import ApiToken
from libcard.access.scopes import ALL_SCOPES, Scope
from libcard.access.service import revoke_token
from libcard.audit.models import AuditEvent
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem, bearer
from tests.conftest import PatronHandle


async def _log_in(api: Api, login: str, password: str) -> dict[str, str]:
    response = await api.client.post(f"{API}/me/token", json={"login": login, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["scopes"] == ["me"]
    return bearer(body["access_token"])


async def _card(api: Api, headers: dict[str, str], language: str = "en") -> dict[str, Any]:
    response = await api.client.get(
        f"{API}/me/card", headers={**headers, "Accept-Language": language}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _tokens_of(api: Api, patron: PatronHandle) -> int:
    async with api.runtime.unit(readonly=True) as ctx:
        count = await ctx.session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.patron_id == patron.id)
        )
    return int(count or 0)


async def test_the_app_logs_in_with_the_card_number_and_shows_the_ecard(api: Api) -> None:
    patron = await api.world.patron(first_name="Ole", last_name="Krogh")
    headers = await _log_in(api, patron.ecard, patron.password)

    body = await _card(api, headers)
    assert body["number"] == patron.ecard
    assert body["symbology"] == "code128"
    assert body["holder_name"] == "Ole Krogh"
    assert body["state"] == "active"
    assert body["usable"] is True
    assert body["refusal"] is None
    assert body["blocks"] == []
    assert body["passes"] == {
        "apple": None,
        "google": None,
        "wallet_available": False,
        "reason": "This library does not offer saving the card to a wallet.",
    }


async def test_the_app_logs_in_with_the_e_mail_and_the_token_is_audited(api: Api) -> None:
    patron = await api.world.patron(email="ole.krogh@example.org")
    response = await api.client.post(
        f"{API}/me/token", json={"login": "Ole.Krogh@example.org", "password": patron.password}
    )
    assert response.status_code == 201, response.text
    expires = response.json()["expires_at"].replace("Z", "+00:00")
    assert expires == (api.clock.now() + timedelta(days=30)).isoformat()
    async with api.runtime.unit(readonly=True) as ctx:
        events = list(
            await ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "token:create"))
        )
    made = [e for e in events if e.patron_id == patron.id]
    assert len(made) == 1
    assert made[0].actor_kind == "system"


async def test_a_wrong_password_is_401_and_makes_no_token(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.post(
        f"{API}/me/token", json={"login": patron.ecard, "password": "not-my-password"}
    )
    assert_problem(response, 401, "login_failed")
    unknown = await api.client.post(
        f"{API}/me/token", json={"login": "nobody@example.org", "password": "whatever"}
    )
    assert_problem(unknown, 401, "login_failed")
    assert await _tokens_of(api, patron) == 0


async def test_too_many_wrong_passwords_are_429_even_with_the_right_one(api: Api) -> None:
    patron = await api.world.patron()
    for _ in range(10):
        response = await api.client.post(
            f"{API}/me/token", json={"login": patron.ecard, "password": "guess"}
        )
        assert_problem(response, 401, "login_failed")
    response = await api.client.post(
        f"{API}/me/token", json={"login": patron.ecard, "password": patron.password}
    )
    assert response.status_code == 429, response.text
    assert await _tokens_of(api, patron) == 0


async def test_empty_login_is_a_clear_422(api: Api) -> None:
    response = await api.client.post(f"{API}/me/token", json={"login": "", "password": "x"})
    assert response.status_code == 422, response.text


async def test_a_token_of_patron_a_never_returns_patron_bs_card(api: Api) -> None:
    a = await api.world.patron(first_name="Anna", last_name="Alm")
    b = await api.world.patron(first_name="Bo", last_name="Bak")
    headers_a = await _log_in(api, a.ecard, a.password)
    headers_b = await _log_in(api, b.ecard, b.password)
    assert (await _card(api, headers_a))["number"] == a.ecard
    assert (await _card(api, headers_b))["number"] == b.ecard
    # A token made for A with every scope still only ever reaches A.
    wide = await api.headers(ActorKind.PATRON, ALL_SCOPES, patron_id=a.id)
    body = await _card(api, wide)
    assert body["number"] == a.ecard
    assert body["holder_name"] == "Anna Alm"


async def test_only_a_patron_token_may_ask(api: Api) -> None:
    for headers in (api.admin, api.desk, await api.headers(ActorKind.SERVICE, [Scope.ME])):
        response = await api.client.get(f"{API}/me/card", headers=headers)
        assert_problem(response, 403, "patron_token_required")
    patron = await api.world.patron()
    lacking = await api.headers(ActorKind.PATRON, [Scope.CARDS_STATUS], patron_id=patron.id)
    assert_problem(await api.client.get(f"{API}/me/card", headers=lacking), 403, "scope_missing")
    assert_problem(await api.client.get(f"{API}/me/card"), 401, "token_required")


async def test_a_revoked_token_is_refused(api: Api) -> None:
    patron = await api.world.patron()
    headers = await _log_in(api, patron.ecard, patron.password)
    await _card(api, headers)
    async with api.runtime.unit() as ctx:
        token_id = await ctx.session.scalar(
            select(ApiToken.id).where(ApiToken.patron_id == patron.id)
        )
        assert token_id is not None
        await revoke_token(ctx, token_id)
    response = await api.client.get(f"{API}/me/card", headers=headers)
    assert_problem(response, 401, "invalid_token")


async def test_the_token_expires_after_30_days(api: Api) -> None:
    patron = await api.world.patron()
    headers = await _log_in(api, patron.ecard, patron.password)
    api.clock.advance(timedelta(days=29, hours=23))
    await _card(api, headers)
    api.clock.advance(timedelta(hours=1))
    response = await api.client.get(f"{API}/me/card", headers=headers)
    assert_problem(response, 401, "invalid_token")


async def test_blocks_come_with_texts_in_the_asked_language(api: Api) -> None:
    patron = await api.world.patron()
    placed = await api.client.post(
        f"{API}/patrons/{patron.id}/blocks",
        json={"reason": "Noise in the reading room"},
        headers=api.desk,
    )
    assert placed.status_code == 201, placed.text
    headers = await _log_in(api, patron.ecard, patron.password)

    english = await _card(api, headers, "en")
    assert english["usable"] is True  # the card itself is fine; the account is blocked
    assert english["language"] == "en"
    [block] = english["blocks"]
    assert block["code"] == "staff"
    assert block["reason"] == "Reason: Noise in the reading room"
    assert block["lift"] == "Contact the lending desk."
    assert block["title"]

    danish = await _card(api, headers, "da")
    assert danish["language"] == "da"
    [dansk] = danish["blocks"]
    assert dansk["lift"] != block["lift"]
    assert danish["passes"]["reason"] != english["passes"]["reason"]


async def test_a_lost_ecard_is_replaced_and_the_app_shows_the_new_one(api: Api) -> None:
    patron = await api.world.patron()
    headers = await _log_in(api, patron.ecard, patron.password)
    lost = await api.client.post(f"{API}/cards/{patron.ecard}/report-lost", headers=api.admin)
    assert lost.status_code == 200, lost.text
    body = await _card(api, headers)
    assert body["number"] != patron.ecard
    assert body["usable"] is True


async def test_the_openapi_documents_the_routes(api: Api) -> None:
    document = (await api.client.get(f"{API}/openapi.json")).json()
    assert "/api/v1/me/card" in document["paths"]
    schema = document["components"]["schemas"]["MeCardOut"]
    assert schema["properties"]["usable"]["description"]
    assert schema["properties"]["passes"]
