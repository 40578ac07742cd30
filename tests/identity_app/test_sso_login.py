"""Single sign-on on the portal's login page, against a real OpenID provider on loopback: a
linked identity opens its patron's account (strong when the broker's level is), one linked to
nobody gets a page saying how to link it, and the link is offered only where it can work."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from markupsafe import escape
from sqlalchemy import func, select

from libcard.access.models import PortalSession
from libcard.audit.models import AuditEvent
from libcard.identity.sso import count_sso_refusal
from libcard.kit.i18n import translate
from libcard.runtime import Runtime
from libcard.web.portal.render import MESSAGES
from libcard.web.portal.sso_routes import SSO_MESSAGES
from tests.conftest import ADMIN
from tests.identity_app.conftest import SSO_CALLBACK, AppPortal, password_login_then
from tests.oidc.conftest import SUBSTANTIAL
from tests.portal.conftest import alert, html_lang

SSO_COOKIE = "__Host-libcard_sso"


async def sessions_of(runtime: Runtime, patron_id: int) -> list[PortalSession]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(PortalSession).where(PortalSession.patron_id == patron_id)
        return list((await ctx.session.scalars(query.order_by(PortalSession.id))).all())


async def events(runtime: Runtime, action: str) -> int:
    async with runtime.unit(readonly=True) as ctx:
        query = select(func.count(AuditEvent.id)).where(AuditEvent.action == action)
        return int(await ctx.session.scalar(query) or 0)


async def test_a_linked_identity_logs_in_strongly_and_goes_on(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    await apps.link(patron, "anna")
    person = await apps.person()

    answer = await person.sso_login("anna", start="/login/sso?next=/loans")

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/loans"
    assert SSO_COOKIE not in person.portal.cookies  # one answer per login started
    card = await person.portal.get("/card")
    assert card.status_code == 200
    assert patron.ecard in card.text
    newest = (await sessions_of(apps.runtime, patron.id))[-1]
    assert newest.assurance_acr == SUBSTANTIAL
    assert newest.assured_at is not None
    assert await events(apps.runtime, "identity:sso_login") == 1


async def test_a_weak_login_logs_in_but_not_strongly(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    await apps.link(patron, "anna")
    person = await apps.person()

    answer = await person.sso_login("anna", acr="weak")

    assert answer.headers["location"] == "/card"
    newest = (await sessions_of(apps.runtime, patron.id))[-1]
    assert newest.assurance_acr is None
    assert newest.assured_at is None
    assert (await person.portal.get("/card")).status_code == 200


async def test_an_identity_linked_to_nobody_gets_the_page_that_says_how_to_link_it(
    apps: AppPortal,
) -> None:
    patron = await apps.world.patron(preferred_language="de")
    person = await apps.person()

    answer = await person.sso_login("nobody-knows-me", start="/login/sso?next=/overview")

    assert answer.status_code == 403
    assert html_lang(answer.text) == "da"  # before login: the site's default language
    text = translate("da", SSO_MESSAGES["identity_not_linked"])
    assert alert(answer.text) == str(escape(text))
    assert (await person.portal.get("/card")).headers["location"].startswith("/login")
    # Its link: the password login, then the strong login that links, then back.
    link = answer.text.split('id="link-by-password" href="')[1].split('"')[0]
    target = unquote(parse_qs(urlsplit(link).query)["next"][0])
    assert target == "/login/strong?next=/overview"
    after = await password_login_then(person, patron, target)
    assert after.headers["location"] == target
    to_broker = await person.portal.get(target)
    assert to_broker.headers["location"].startswith(apps.provider.issuer)
    asked = parse_qs(urlsplit(to_broker.headers["location"]).query)
    assert asked["redirect_uri"] == ["https://testserver/login/strong/callback"]


async def test_the_login_page_offers_single_sign_on_only_with_a_broker(apps: AppPortal) -> None:
    person = await apps.person()
    page = await person.portal.get("/login", params={"next": "/loans"})
    assert 'href="/login/sso?next=/loans"' in page.text

    apps.runtime.settings.broker_issuer = None
    page = await person.portal.get("/login")
    assert "/login/sso" not in page.text
    answer = await person.portal.get("/login/sso")
    assert answer.status_code == 503
    assert alert(answer.text) == str(escape(translate("da", SSO_MESSAGES["sso_not_set_up"])))


async def test_my_data_offers_to_link_the_institutions_login_until_it_is_linked(
    apps: AppPortal,
) -> None:
    patron = await apps.world.patron()
    person = await apps.person(patron)

    page = await person.portal.get("/my-data")
    assert 'href="/login/strong?next=/card"' in page.text

    await apps.link(patron, "anna")
    page = await person.portal.get("/my-data")
    assert 'id="identity-link"' not in page.text


async def test_a_forged_callback_without_the_login_under_way_is_refused(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    await apps.link(patron, "anna")
    attacker, victim = await apps.person(), await apps.person()
    start = await attacker.portal.get("/login/sso")
    callback = await attacker.at_broker(start.headers["location"], "anna", callback=SSO_CALLBACK)

    # The victim's browser is lured to the attacker's answer: no login under way there.
    answer = await victim.portal.get(callback)

    assert answer.status_code == 403
    assert (await victim.portal.get("/card")).status_code == 303
    assert 'href="/login/sso?next=/card"' in answer.text


async def test_next_must_be_a_page_of_this_site(apps: AppPortal) -> None:
    person = await apps.person()

    answer = await person.portal.get("/login/sso", params={"next": "https://evil.example/"})

    assert answer.status_code == 422
    assert "location" not in answer.headers


async def test_too_many_refused_logins_from_one_address_are_stopped(apps: AppPortal) -> None:
    patron = await apps.world.patron()
    await apps.link(patron, "anna")
    async with apps.runtime.unit(ADMIN) as ctx:
        for _ in range(30):
            await count_sso_refusal(ctx, "127.0.0.1")
    person = await apps.person()

    answer = await person.sso_login("anna")

    assert answer.status_code == 429
    assert alert(answer.text) == str(escape(translate("da", MESSAGES["too_many_attempts"])))
    assert (await person.portal.get("/card")).status_code == 303
