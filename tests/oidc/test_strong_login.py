"""Strong login before paying (R16), against a real OpenID provider on loopback: the patron goes
from a page that needs it to the broker and back, the identity is linked once and to one
patron, and every answer that does not prove who the person is is refused without a link."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from markupsafe import escape
from sqlalchemy import func, select

from libcard.access.models import LinkedIdentity, PortalSession
from libcard.audit.models import AuditEvent
from libcard.identity.service import subject_digests
from libcard.kit.i18n import translate
from libcard.patrons.models import Patron
from libcard.policy.service import policy_for_group, update_institution
from libcard.runtime import Runtime
from libcard.web.portal.strong import strong_login_redirect
from libcard.web.portal.strong_login_routes import STRONG_MESSAGES
from libcard.web.portal.visit import patron_visit
from tests.conftest import ADMIN
from tests.oidc.conftest import SUBSTANTIAL, Browser, Provider, StrongPortal, start_provider
from tests.portal.conftest import alert, html_lang

PAY = "/test-pay"
PENDING = "__Host-libcard_strong"  # the cookie of a strong login under way


@pytest.fixture(autouse=True)
def pay_page(strong: StrongPortal) -> None:
    """A page that asks for strong login before paying, as the payment overview does."""

    async def pay(request: Request) -> Response:
        visit = await patron_visit(request)
        async with visit.unit(readonly=True) as ctx:
            patron = await ctx.session.get(Patron, visit.me)
            assert patron is not None
            _, _, policy = await policy_for_group(ctx, patron.group_id)
        return strong_login_redirect(visit, policy, PAY) or PlainTextResponse("pay here")

    strong.app.add_api_route(PAY, pay, methods=["GET"])


async def links_of(runtime: Runtime, patron_id: int) -> list[LinkedIdentity]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(LinkedIdentity).where(LinkedIdentity.patron_id == patron_id)
        return list((await ctx.session.scalars(query)).all())


async def events(runtime: Runtime, action: str, patron_id: int) -> int:
    async with runtime.unit(readonly=True) as ctx:
        query = select(func.count(AuditEvent.id)).where(
            AuditEvent.action == action, AuditEvent.patron_id == patron_id
        )
        return int(await ctx.session.scalar(query) or 0)


async def strong_sessions(runtime: Runtime, patron_id: int) -> list[str | None]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(PortalSession.assurance_acr).where(
            PortalSession.patron_id == patron_id, PortalSession.assured_at.is_not(None)
        )
        return list((await ctx.session.scalars(query)).all())


async def pays(browser: Browser) -> bool:
    """Whether the page that needs strong login opens (rather than sending to the broker)."""
    response = await browser.portal.get(PAY)
    if response.status_code == 200:
        assert response.text == "pay here"
        return True
    assert response.status_code == 303
    assert response.headers["location"] == f"/login/strong?next={PAY}"
    return False


def shown(code: str, language: str = "da") -> str:
    """A refusal's text as the page shows it: in the patron's language (the test institution's,
    Danish, unless a test says otherwise), HTML-escaped."""
    return str(escape(translate(language, STRONG_MESSAGES[code])))


def put_cookie(client: httpx.AsyncClient, name: str, value: str) -> None:
    """Set a cookie as the portal would have set it (host-only, on the portal's host)."""
    [session] = [c for c in client.cookies.jar if c.name == "__Host-libcard_session"]
    client.cookies.set(name, value, domain=session.domain, path="/")


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


async def test_strong_login_links_the_identity_and_opens_the_page(strong: StrongPortal) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    assert not await pays(browser)

    authorization = await browser.start(PAY)
    query = parse_qs(urlsplit(authorization).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["acr_values"][0].split() == [
        SUBSTANTIAL,
        "https://data.gov.dk/concept/core/nsis/loa/High",
    ]
    assert {"state", "nonce", "code_challenge"} <= set(query)
    answer = await browser.portal.get(await browser.at_broker(authorization, "anna"))

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == PAY
    assert await pays(browser)
    [link] = await links_of(strong.runtime, patron.id)
    assert "anna" not in link.subject  # a keyed digest, never the broker's identifier
    assert await events(strong.runtime, "identity:link", patron.id) == 1
    assert await strong_sessions(strong.runtime, patron.id) == [SUBSTANTIAL]
    # Strong already: starting again goes straight back.
    again = await browser.portal.get("/login/strong", params={"next": PAY})
    assert again.headers["location"] == PAY


async def test_a_later_login_matches_the_same_patron_and_assurance_is_per_session(
    strong: StrongPortal,
) -> None:
    patron = await strong.world.patron()
    first = await strong.browser(patron)
    assert (await first.strong_login("anna")).status_code == 303
    strong.clock.advance(timedelta(days=3))

    second = await strong.browser(patron)  # a new portal session starts without assurance
    assert not await pays(second)
    assert (await second.strong_login("anna", next_path=PAY)).headers["location"] == PAY
    assert await pays(second)

    [link] = await links_of(strong.runtime, patron.id)
    assert link.last_login_at == strong.clock.now()
    assert link.linked_at == strong.clock.now() - timedelta(days=3)
    assert await events(strong.runtime, "identity:link", patron.id) == 1
    assert await events(strong.runtime, "identity:strong_login", patron.id) == 2

    # Logging out ends the assurance with the session.
    page = await second.portal.get("/card")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    await second.portal.post("/logout", data={"csrf": token})
    assert (await second.portal.get(PAY)).headers["location"].startswith("/login")


async def test_an_identity_linked_to_another_patron_is_refused(strong: StrongPortal) -> None:
    anna, bent = await strong.world.patron(), await strong.world.patron()
    assert (await (await strong.browser(anna)).strong_login("anna")).status_code == 303

    browser = await strong.browser(bent)
    answer = await browser.strong_login("anna")

    assert answer.status_code == 403
    assert alert(answer.text) == shown("identity_linked_elsewhere")
    assert not await pays(browser)
    assert await links_of(strong.runtime, bent.id) == []
    assert await strong_sessions(strong.runtime, bent.id) == []
    assert await events(strong.runtime, "identity:refuse", bent.id) == 1  # kept for staff


async def test_a_patron_links_one_identity_per_broker(strong: StrongPortal) -> None:
    patron = await strong.world.patron()
    assert (await (await strong.browser(patron)).strong_login("anna")).status_code == 303

    browser = await strong.browser(patron)
    answer = await browser.strong_login("someone-else")

    assert answer.status_code == 403
    assert alert(answer.text) == shown("identity_other_person")
    assert not await pays(browser)
    assert len(await links_of(strong.runtime, patron.id)) == 1


async def test_a_weak_login_is_refused_with_a_new_try_offered(strong: StrongPortal) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)

    answer = await browser.strong_login("anna", acr="weak", next_path=PAY)

    assert answer.status_code == 409
    assert alert(answer.text) == shown("strong_login_too_weak")
    assert 'href="/login/strong?next=/test-pay"' in answer.text
    assert await links_of(strong.runtime, patron.id) == []
    assert not await pays(browser)


@pytest.mark.parametrize("forged", ["forged-state", "", "ærø"])
async def test_a_wrong_state_is_refused(strong: StrongPortal, forged: str) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    callback = await browser.at_broker(await browser.start(), "anna")

    answer = await browser.portal.get(with_query(callback, state=forged))

    assert answer.status_code == 403
    assert alert(answer.text) == shown("strong_login_state")
    assert await links_of(strong.runtime, patron.id) == []
    # The login under way is spent: the genuine answer afterwards counts no more.
    late = await browser.portal.get(callback)
    assert alert(late.text) == shown("strong_login_expired")
    assert await links_of(strong.runtime, patron.id) == []


async def test_a_replayed_callback_is_refused(strong: StrongPortal) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    callback = await browser.at_broker(await browser.start(), "anna")
    pending = browser.portal.cookies[PENDING]
    assert (await browser.portal.get(callback)).status_code == 303
    assert PENDING not in browser.portal.cookies

    # The same answer again: no login is under way any more.
    replay = await browser.portal.get(callback)
    assert replay.status_code == 403
    assert alert(replay.text) == shown("strong_login_expired")
    # Even with the pending login's cookie put back, the broker's code works once only.
    put_cookie(browser.portal, PENDING, pending)
    replay = await browser.portal.get(callback)
    assert replay.status_code == 403
    assert alert(replay.text) == shown("strong_login_failed")
    assert await events(strong.runtime, "identity:strong_login", patron.id) == 1


async def test_an_id_token_with_another_nonce_is_refused(strong: StrongPortal) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    authorization = with_query(await browser.start(), nonce="an-attackers-nonce")

    answer = await browser.portal.get(await browser.at_broker(authorization, "anna"))

    assert answer.status_code == 403
    assert alert(answer.text) == shown("strong_login_token_invalid")
    assert await links_of(strong.runtime, patron.id) == []
    assert not await pays(browser)


async def test_a_code_asked_for_with_another_pkce_challenge_is_refused(
    strong: StrongPortal,
) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    # An attacker's own challenge: the code is bound to a verifier libcard does not have.
    forged = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    authorization = with_query(await browser.start(), code_challenge=forged)

    answer = await browser.portal.get(await browser.at_broker(authorization, "anna"))

    assert answer.status_code == 403
    assert alert(answer.text) == shown("strong_login_failed")
    assert await links_of(strong.runtime, patron.id) == []


async def test_an_answer_from_another_broker_is_refused(
    strong: StrongPortal, other_provider: Provider
) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    ours = urlsplit(await browser.start())
    # The same request, answered by another broker that knows the same client (a mix-up).
    theirs = urlunsplit(urlsplit(other_provider.issuer)._replace(path=ours.path, query=ours.query))

    answer = await browser.portal.get(await browser.at_broker(theirs, "anna"))

    assert answer.status_code == 403
    assert alert(answer.text) == shown("strong_login_issuer")
    assert await links_of(strong.runtime, patron.id) == []


async def test_a_broker_whose_discovery_names_another_issuer_is_not_used(
    strong: StrongPortal, tmp_path: Path
) -> None:
    impostor = start_provider(
        tmp_path / "impostor.log", "--advertise-issuer", "https://broker.example.org"
    )
    try:
        strong.runtime.settings.broker_issuer = impostor.served
        browser = await strong.browser(await strong.world.patron())

        answer = await browser.portal.get("/login/strong", params={"next": PAY})
    finally:
        impostor.stop()

    assert answer.status_code == 503
    assert "location" not in answer.headers
    assert PENDING not in browser.portal.cookies


async def test_a_cancelled_login_says_so_in_the_patrons_language(strong: StrongPortal) -> None:
    patron = await strong.world.patron(preferred_language="da")
    browser = await strong.browser(patron)
    callback = await browser.at_broker(await browser.start(), "anna", cancel=True)

    answer = await browser.portal.get(callback)

    assert answer.status_code == 403
    assert html_lang(answer.text) == "da"
    assert alert(answer.text) == shown("strong_login_cancelled", "da")
    assert await links_of(strong.runtime, patron.id) == []


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/pay",
        "https://evil.example/pay",
        "/\\evil.example",
        "/\t/evil.example",
        "evil.example",
    ],
)
async def test_next_must_be_a_page_of_this_site(strong: StrongPortal, target: str) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)

    answer = await browser.portal.get("/login/strong", params={"next": target})

    assert answer.status_code == 422
    assert "location" not in answer.headers
    assert alert(answer.text) == shown("next_not_local")
    assert PENDING not in browser.portal.cookies


async def test_without_a_broker_the_page_says_strong_login_is_not_available(
    strong: StrongPortal,
) -> None:
    strong.runtime.settings.broker_issuer = None
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    assert not await pays(browser)

    answer = await browser.portal.get("/login/strong", params={"next": PAY})

    assert answer.status_code == 503
    assert alert(answer.text) == shown("strong_login_not_set_up")
    assert "/login/strong?" not in answer.text  # no new try offered: nothing would change


async def test_a_policy_without_strong_login_needs_no_broker(strong: StrongPortal) -> None:
    strong.runtime.settings.broker_issuer = None
    async with strong.runtime.unit(ADMIN) as ctx:
        await update_institution(ctx, strong.world.institution_id, {"payment_login": "none"})
    browser = await strong.browser(await strong.world.patron())

    assert await pays(browser)


async def test_an_unreachable_broker_is_a_page_not_a_crash(strong: StrongPortal) -> None:
    strong.runtime.settings.broker_issuer = "http://127.0.0.1:9"  # discard: nobody answers
    browser = await strong.browser(await strong.world.patron())

    answer = await browser.portal.get("/login/strong", params={"next": PAY})

    assert answer.status_code == 503
    assert translate("da", "Start the login again") in answer.text


async def test_strong_login_needs_the_portal_login_first(strong: StrongPortal) -> None:
    browser = await strong.browser()

    answer = await browser.portal.get("/login/strong", params={"next": PAY})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/login/strong%3Fnext%3D%252Ftest-pay"


async def test_a_login_left_too_long_at_the_broker_must_be_started_again(
    strong: StrongPortal,
) -> None:
    patron = await strong.world.patron()
    browser = await strong.browser(patron)
    callback = await browser.at_broker(await browser.start(), "anna")
    strong.clock.advance(timedelta(minutes=11))

    answer = await browser.portal.get(callback)

    assert alert(answer.text) == shown("strong_login_expired")
    assert await links_of(strong.runtime, patron.id) == []


async def test_a_login_started_by_another_patron_counts_not_for_this_one(
    strong: StrongPortal,
) -> None:
    anna, bent = await strong.world.patron(), await strong.world.patron()
    victim = await strong.browser(bent)
    attacker = await strong.browser(anna)
    # The attacker starts a login and lures the victim's browser to its answer.
    callback = await attacker.at_broker(await attacker.start(), "mallory")
    put_cookie(victim.portal, PENDING, attacker.portal.cookies[PENDING])
    assert victim.portal.cookies[PENDING] == attacker.portal.cookies[PENDING]

    answer = await victim.portal.get(callback)

    assert alert(answer.text) == shown("strong_login_expired")
    assert await links_of(strong.runtime, bent.id) == []
    assert await links_of(strong.runtime, anna.id) == []


async def test_the_person_can_be_named_by_another_claim_than_sub(strong: StrongPortal) -> None:
    strong.runtime.settings.broker_scopes = "openid person"
    strong.runtime.settings.broker_subject_claim = "person_uuid"
    patron = await strong.world.patron()

    answer = await (await strong.browser(patron)).strong_login("anna")

    assert answer.status_code == 303
    [link] = await links_of(strong.runtime, patron.id)
    async with strong.runtime.unit(readonly=True) as ctx:
        assert link.subject in subject_digests(ctx, link.issuer, "person-anna")
