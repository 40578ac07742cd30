"""POST /api/v1/me/token/code: the code from the portal for the app's token, once, for two
minutes, only with the PKCE verifier, the app and the redirect URI it was given for; a code
presented again revokes the token it gave."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from libcard.access.app_codes import ADDRESS_ATTEMPTS
from libcard.access.models import ApiToken
from libcard.audit.models import AuditEvent
from tests.conftest import PatronHandle
from tests.identity_app.conftest import (
    API,
    APP,
    APP_REDIRECT,
    OTHER_APP,
    AppPortal,
    authorize_params,
    pkce,
    query_of,
)


async def code_for(apps: AppPortal, patron: PatronHandle, challenge: str) -> str:
    """The patron, logged in with the password, allows the app: the code the app receives."""
    person = await apps.person(patron)
    page = await person.consent_page(authorize_params(challenge))
    answer = await person.decide(page, "allow")
    assert answer.status_code == 303, answer.text
    return query_of(answer.headers["location"])["code"]


def exchange(code: str, verifier: str, **changes: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": APP_REDIRECT,
        "client_id": APP,
        "code_verifier": verifier,
        **changes,
    }


async def card_number(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.get(f"{API}/me/card", headers={"authorization": f"Bearer {token}"})


def refused_as_invalid_grant(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "invalid_grant"
    assert body["error"] == "invalid_grant"
    assert body["detail"]


async def test_a_json_body_works_as_a_form_does(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    verifier, challenge = pkce()
    code = await code_for(apps, patron, challenge)

    answer = await apps.api().post(f"{API}/me/token/code", json=exchange(code, verifier))

    assert answer.status_code == 200, answer.text
    async with apps.runtime.unit(readonly=True) as ctx:
        [token] = (await ctx.session.scalars(select(ApiToken))).all()
    assert token.patron_id == patron.id
    assert token.scopes == ["me"]
    assert token.expires_at == apps.clock.now() + timedelta(days=30)


async def test_a_wrong_verifier_is_refused_and_spends_the_code(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    verifier, challenge = pkce()
    code = await code_for(apps, patron, challenge)
    api = apps.api()
    other_verifier, _ = pkce()

    refused_as_invalid_grant(
        await api.post(f"{API}/me/token/code", data=exchange(code, other_verifier))
    )
    # One try per code: the right verifier after a wrong one is too late.
    refused_as_invalid_grant(await api.post(f"{API}/me/token/code", data=exchange(code, verifier)))


async def test_a_code_used_twice_is_refused_and_its_token_revoked(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    verifier, challenge = pkce()
    code = await code_for(apps, patron, challenge)
    api = apps.api()
    first = await api.post(f"{API}/me/token/code", data=exchange(code, verifier))
    token = first.json()["access_token"]
    assert (await card_number(api, token)).status_code == 200

    again = await api.post(f"{API}/me/token/code", data=exchange(code, verifier))

    refused_as_invalid_grant(again)
    assert "used already" in again.json()["detail"]
    revoked = await card_number(api, token)
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "invalid_token"
    async with apps.runtime.unit(readonly=True) as ctx:
        actions = (await ctx.session.scalars(select(AuditEvent.action))).all()
    assert "token:revoke" in actions


async def test_an_expired_code_is_refused(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    verifier, challenge = pkce()
    code = await code_for(apps, patron, challenge)
    apps.clock.advance(timedelta(minutes=2))

    answer = await apps.api().post(f"{API}/me/token/code", data=exchange(code, verifier))

    refused_as_invalid_grant(answer)
    assert "expired" in answer.json()["detail"]


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": OTHER_APP},
        {"redirect_uri": "http://127.0.0.1/callback"},
        {"code": "not-a-code-of-ours"},
    ],
)
async def test_a_code_works_only_for_its_app_and_redirect_uri(
    apps: AppPortal, changes: dict[str, str]
) -> None:
    patron = await apps.world.patron()
    verifier, challenge = pkce()
    code = await code_for(apps, patron, challenge)

    data = {**exchange(code, verifier), **changes}

    answer = await apps.api().post(f"{API}/me/token/code", data=data)

    refused_as_invalid_grant(answer)


async def test_each_patrons_code_gives_that_patrons_token_only(apps: AppPortal) -> None:
    anna, bent = await apps.world.patron(), await apps.world.patron()
    verifier_a, challenge_a = pkce()
    _, challenge_b = pkce()
    code_a = await code_for(apps, anna, challenge_a)
    code_b = await code_for(apps, bent, challenge_b)
    api = apps.api()

    # Bent's code with Anna's verifier is nothing; each code gives its own patron's card.
    refused_as_invalid_grant(
        await api.post(f"{API}/me/token/code", data=exchange(code_b, verifier_a))
    )
    token_a = await api.post(f"{API}/me/token/code", data=exchange(code_a, verifier_a))
    card = await card_number(api, token_a.json()["access_token"])
    assert card.json()["number"] == anna.ecard != bent.ecard


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "invalid_request"),
    ],
)
async def test_a_request_it_cannot_read_is_a_clear_problem(
    apps: AppPortal, data: dict[str, str], code: str
) -> None:
    answer = await apps.api().post(f"{API}/me/token/code", data=data)

    assert answer.status_code == 400
    assert answer.json()["code"] == code == answer.json()["error"]


async def test_refused_codes_are_throttled_per_address(apps: AppPortal) -> None:
    api = apps.api()
    verifier, _ = pkce()
    for _ in range(ADDRESS_ATTEMPTS):
        answer = await api.post(f"{API}/me/token/code", data=exchange("guess", verifier))
        refused_as_invalid_grant(answer)

    stopped = await api.post(f"{API}/me/token/code", data=exchange("guess", verifier))

    assert stopped.status_code == 429
    assert "retry-after" in stopped.headers


async def test_the_openapi_document_describes_the_token_endpoint(apps: AppPortal) -> None:
    document = (await apps.api().get(f"{API}/openapi.json")).json()

    operation = document["paths"][f"{API}/me/token/code"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded", "application/json"}
    schema = content["application/json"]["schema"]
    assert {"grant_type", "code", "redirect_uri", "client_id", "code_verifier"} <= set(
        schema["properties"]
    )
    assert "invalid_grant" in operation["responses"]["400"]["description"]
