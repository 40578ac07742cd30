"""The institution's app logs in through the portal (OAuth 2.0 authorization code with PKCE):
single sign-on or the password in the browser, the patron allows the app, the app trades the
code for its token and reads the patron's card. An unknown app or redirect URI gets a page and
is never redirected to; every other answer goes back to the app."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

from tests.identity_app.conftest import (
    API,
    APP,
    APP_REDIRECT,
    OTHER_APP,
    AppPortal,
    Person,
    authorize_params,
    password_login_then,
    pkce,
    query_of,
)
from tests.portal.conftest import alert


async def allow(person: Person, params: dict[str, str]) -> dict[str, str]:
    """The consent page, Allow pressed; the parameters the app receives."""
    page = await person.consent_page(params)
    assert page.status_code == 200, page.text
    answer = await person.decide(page, "allow")
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(params["redirect_uri"] + "?")
    return query_of(location)


async def token_for(
    api: httpx.AsyncClient, code: str, verifier: str, *, client_id: str = APP, **extra: str
) -> httpx.Response:
    return await api.post(
        f"{API}/me/token/code",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": extra.pop("redirect_uri", APP_REDIRECT),
            "client_id": client_id,
            "code_verifier": verifier,
            **extra,
        },
    )


async def test_single_sign_on_consent_code_token_and_the_card(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    await apps.link(patron, "anna")
    person = await apps.person()
    verifier, challenge = pkce()
    params = authorize_params(challenge, state="app-state-42")

    # Not logged in: the login page first, which comes back to the request.
    first = await person.consent_page(params)
    assert first.status_code == 303
    login_page = first.headers["location"]
    assert login_page.startswith("/login?next=/app/authorize%3F")
    page = await person.portal.get(login_page)
    sso = page.text.split('id="sso-login" class="button" href="')[1].split('"')[0]
    answer = await person.sso_login("anna", start=sso.replace("&amp;", "&"))
    assert answer.status_code == 303
    assert unquote(answer.headers["location"]).startswith("/app/authorize?")

    consent = await person.portal.get(answer.headers["location"])
    assert consent.status_code == 200
    assert APP in consent.text.split('id="consent-text">')[1].split("</p>")[0]
    assert f"form-action 'self' {APP}:" in consent.headers["content-security-policy"]
    received = await person.decide(consent, "allow")
    given = query_of(received.headers["location"])
    assert given["state"] == "app-state-42"

    api = apps.api()
    token = await token_for(api, given["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "bearer"
    assert body["scopes"] == ["me"]
    card = await api.get(
        f"{API}/me/card", headers={"authorization": f"Bearer {body['access_token']}"}
    )
    assert card.status_code == 200, card.text
    assert card.json()["number"] == patron.ecard


async def test_the_password_login_leads_to_the_consent_too(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    person = await apps.person()
    verifier, challenge = pkce()
    params = authorize_params(challenge)
    target = (await person.consent_page(params)).headers["location"]
    next_target = unquote(target.split("next=", 1)[1])

    after = await password_login_then(person, patron, next_target)
    assert after.headers["location"] == next_target
    given = await allow(person, params)

    token = await token_for(apps.api(), given["code"], verifier)
    assert token.status_code == 200, token.text


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"client_id": "dk.example.unknown"}, "This app is not one the library knows"),
        ({"client_id": ""}, "This app is not one the library knows"),
        ({"redirect_uri": "https://evil.example/cb"}, "an address the library does not know"),
        ({"redirect_uri": "dk.example.library:/oauth/other"}, "does not know"),
        ({"redirect_uri": "http://127.0.0.1:8000/elsewhere"}, "does not know"),
        ({"client_id": OTHER_APP}, "does not know"),  # a URI of another app
    ],
)
async def test_an_unknown_app_or_redirect_uri_gets_a_page_never_a_redirect(
    apps: AppPortal, changes: dict[str, str], shown: str
) -> None:
    person = await apps.person(await apps.world.patron())
    _, challenge = pkce()
    person.portal.cookies.set("libcard_lang", "en")

    answer = await person.consent_page({**authorize_params(challenge), **changes})

    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert shown in alert(answer.text).replace("&#39;", "'")


async def test_a_loopback_redirect_uri_may_have_any_port(apps: AppPortal) -> None:
    person = await apps.person(await apps.world.patron())
    verifier, challenge = pkce()
    redirect_uri = "http://127.0.0.1:51234/callback"
    params = authorize_params(challenge, redirect_uri=redirect_uri)

    given = await allow(person, params)

    token = await token_for(apps.api(), given["code"], verifier, redirect_uri=redirect_uri)
    assert token.status_code == 200, token.text


async def test_deny_answers_access_denied(apps: AppPortal) -> None:
    person = await apps.person(await apps.world.patron())
    _, challenge = pkce()
    page = await person.consent_page(authorize_params(challenge, state="s"))

    answer = await person.decide(page, "deny")

    assert answer.status_code == 303
    assert answer.headers["location"] == f"{APP_REDIRECT}?error=access_denied&state=s"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"state": "x" * 201}, "invalid_request"),
    ],
)
async def test_other_mistakes_go_back_to_the_app_with_an_error(
    apps: AppPortal, changes: dict[str, str], error: str
) -> None:
    person = await apps.person()  # not even logged in: the app is told at once
    _, challenge = pkce()

    answer = await person.consent_page({**authorize_params(challenge, state="s"), **changes})

    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(APP_REDIRECT + "?")
    assert query_of(location)["error"] == error
    assert "code" not in query_of(location)


async def test_a_parameter_sent_twice_is_an_invalid_request(apps: AppPortal) -> None:
    person = await apps.person(await apps.world.patron())
    _, challenge = pkce()
    query = httpx.QueryParams(authorize_params(challenge)).add("code_challenge", challenge)

    answer = await person.portal.get("/app/authorize", params=query)

    assert query_of(answer.headers["location"])["error"] == "invalid_request"


async def test_a_consent_posted_without_its_csrf_token_gives_no_code(apps: AppPortal) -> None:
    person = await apps.person(await apps.world.patron())
    _, challenge = pkce()
    page = await person.consent_page(authorize_params(challenge))
    fields = {
        **authorize_params(challenge),
        "decision": "allow",
    }

    forged = await person.portal.post("/app/authorize", data=fields)
    wrong = await person.portal.post("/app/authorize", data={**fields, "csrf": "forged"})

    for answer in (forged, wrong):
        assert answer.status_code == 403
        assert "location" not in answer.headers
    assert page.status_code == 200
