"""Activation by the institution's single sign-on (R2), against a real OpenID provider on
loopback: a new student from the registry feed logs in with the university's login, which
vouches for their registry id, chooses password and PIN, and is in; the mailed code stops
working, and the login is linked for next time. An unknown id, another identity, an expired
account, an old or foreign activation cookie and a missing CSRF token are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from markupsafe import escape
from pydantic import ValidationError
from sqlalchemy import func, select

from libcard.access.models import LinkedIdentity
from libcard.audit.models import AuditEvent
from libcard.cards.activation import activate
from libcard.cards.models import Card
from libcard.config import Settings
from libcard.errors import LibcardError
from libcard.kit.i18n import translate
from libcard.notify.models import OutboundMail
from libcard.runtime import Runtime
from libcard.web.portal.render import MESSAGES
from libcard.web.portal.sso_routes import SSO_MESSAGES
from tests.conftest import PatronHandle
from tests.identity_app.conftest import AppPortal, Person
from tests.portal.conftest import alert, card_state, csrf, login, password_valid, pin_valid
from tests.sync.helpers import csv_of, run, student

ANNA = "S1001;Anna;Berg;2004-05-17;anna@stud.nordby.example;Aarhus;"
ACTIVATION_COOKIE = "__Host-libcard_sso_activation"
CHOSEN = {
    "password": "Lecture-Hall-77",
    "password_repeat": "Lecture-Hall-77",
    "pin": "4826",
    "pin_repeat": "4826",
}


@pytest.fixture
def registry_sso(apps: AppPortal) -> AppPortal:
    """The broker vouches for the student id (claim `student_id`) of Nordby's registry."""
    settings = apps.runtime.settings
    settings.broker_scopes = "openid person"
    settings.broker_registry_claim = "student_id"
    settings.broker_registry_institution = "nordby"
    return apps


async def new_student(apps: AppPortal, row: str = ANNA) -> int:
    summary = await run(apps.world, csv_of(row))
    assert summary.created == 1, summary
    found = await student(apps.world, row.split(";")[0])
    assert found is not None
    return found.id


async def ecard_and_mailed_code(runtime: Runtime, patron_id: int) -> tuple[str, str]:
    async with runtime.unit(readonly=True) as ctx:
        card = await ctx.session.scalar(select(Card).where(Card.patron_id == patron_id))
        mail = await ctx.session.scalar(
            select(OutboundMail).where(OutboundMail.patron_id == patron_id)
        )
    assert card is not None
    assert card.number is not None
    assert mail is not None
    found = re.search(r"\b([A-Z0-9]{10})\b", mail.body.replace(card.number, ""))
    assert found is not None
    return card.number, found.group(1)


async def activated_student(apps: AppPortal) -> tuple[int, str]:
    """A student from the registry, activated with the mailed code; id and e-card number."""
    patron_id = await new_student(apps)
    number, code = await ecard_and_mailed_code(apps.runtime, patron_id)
    async with apps.runtime.unit() as ctx:
        await activate(ctx, number, code, "Reading-Room-42", "2580")
    return patron_id, number


async def identities_of(runtime: Runtime, patron_id: int) -> list[LinkedIdentity]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(LinkedIdentity).where(LinkedIdentity.patron_id == patron_id)
        return list((await ctx.session.scalars(query)).all())


async def events(runtime: Runtime, action: str, patron_id: int) -> list[AuditEvent]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.patron_id == patron_id
        )
        return list((await ctx.session.scalars(query)).all())


async def choose(person: Person, **fields: str) -> tuple[str, httpx.Response]:
    """The activation form as shown, posted with `fields` over the chosen password and PIN."""
    page = await person.portal.get("/activate/sso")
    assert page.status_code == 200, page.text
    answer = await person.portal.post(
        "/activate/sso", data={**CHOSEN, "csrf": csrf(page.text), **fields}
    )
    return page.text, answer


async def test_a_new_student_activates_with_the_institutions_login(
    registry_sso: AppPortal,
) -> None:
    apps = registry_sso
    patron_id = await new_student(apps)
    number, mailed_code = await ecard_and_mailed_code(apps.runtime, patron_id)
    person = await apps.person()

    answer = await person.sso_login("anna-at-uni", student_id="S1001")

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/activate/sso"
    assert (await person.portal.get("/card")).status_code == 303  # not logged in yet
    assert await identities_of(apps.runtime, patron_id) == []  # nothing linked before the choice

    page, weak = await choose(
        person, password="Anna-Berg-Library", password_repeat="Anna-Berg-Library"
    )
    assert 'name="password"' in page
    assert 'name="pin"' in page
    # Greeted by the registry's name (in Danish, the institution's language): their account.
    assert '<p id="activation-greeting">Hej Anna,</p>' in page
    assert weak.status_code == 422, weak.text
    assert '<p id="activation-greeting">Hej Anna,</p>' in weak.text
    assert alert(weak.text) == str(escape(translate("da", MESSAGES["password_personal"])))
    assert await identities_of(apps.runtime, patron_id) == []
    assert (await card_state(apps.runtime, apps.world, number)).state.value == "not_activated"

    _, done = await choose(person)

    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/card?welcome=1"
    assert ACTIVATION_COOKIE not in person.portal.cookies
    card_page = await person.portal.get("/card")
    assert card_page.status_code == 200
    assert number in card_page.text
    assert (await card_state(apps.runtime, apps.world, number)).state.value == "active"
    assert await pin_valid(apps.runtime, apps.world, number, "4826")
    assert await password_valid(apps.runtime, patron_id, "Lecture-Hall-77")
    [activation] = await events(apps.runtime, "patron:activate", patron_id)
    assert activation.details["channel"] == "sso"
    [link] = await events(apps.runtime, "identity:link", patron_id)
    assert link.details["via"] == "registry"
    # The mailed code is spent: the account is activated another way.
    async with apps.runtime.unit() as ctx:
        with pytest.raises(LibcardError):
            await activate(ctx, number, mailed_code, "Another-Pass-99", "9753")
    # Next time the institution's login goes straight in, and so does the password.
    again = await apps.person()
    assert (await again.sso_login("anna-at-uni", student_id="S1001")).headers["location"] == "/card"
    by_password = await apps.person()
    assert (await login(by_password.portal, number, "Lecture-Hall-77")).status_code == 303


async def test_after_activation_the_student_goes_where_the_login_started(
    registry_sso: AppPortal,
) -> None:
    await new_student(registry_sso)
    person = await registry_sso.person()
    await person.sso_login("anna-at-uni", student_id="S1001", start="/login/sso?next=/loans")
    _, done = await choose(person)
    assert done.headers["location"] == "/loans"


async def test_an_activated_student_is_linked_at_once(registry_sso: AppPortal) -> None:
    apps = registry_sso
    patron_id, _ = await activated_student(apps)
    person = await apps.person()

    answer = await person.sso_login("anna-at-uni", student_id="S1001")

    assert answer.headers["location"] == "/card"
    assert (await person.portal.get("/card")).status_code == 200
    assert len(await identities_of(apps.runtime, patron_id)) == 1
    assert await password_valid(apps.runtime, patron_id, "Reading-Room-42")  # unchanged


async def test_a_student_the_registry_has_not_sent_is_told_so(registry_sso: AppPortal) -> None:
    apps = registry_sso
    await new_student(apps)
    person = await apps.person()

    answer = await person.sso_login("someone-else", student_id="S9999")

    assert answer.status_code == 403
    text = translate("da", SSO_MESSAGES["registry_student_unknown"])
    assert alert(answer.text) == str(escape(text))
    assert ACTIVATION_COOKIE not in person.portal.cookies
    async with apps.runtime.unit(readonly=True) as ctx:
        assert await ctx.session.scalar(select(func.count(LinkedIdentity.id))) == 0


async def test_without_the_registry_claim_set_a_student_id_opens_nothing(
    apps: AppPortal,
) -> None:
    apps.runtime.settings.broker_scopes = "openid person"
    await new_student(apps)
    person = await apps.person()

    answer = await person.sso_login("anna-at-uni", student_id="S1001")

    assert answer.status_code == 403
    assert alert(answer.text) == str(escape(translate("da", SSO_MESSAGES["identity_not_linked"])))
    activate_page = await person.portal.get("/activate")
    assert 'id="sso-activate"' not in activate_page.text


async def test_the_activate_page_offers_the_institutions_login(registry_sso: AppPortal) -> None:
    person = await registry_sso.person()
    page = await person.portal.get("/activate")
    assert 'id="sso-activate" class="button" href="/login/sso?next=/card"' in page.text


async def test_the_form_is_this_browsers_and_lasts_half_an_hour(registry_sso: AppPortal) -> None:
    apps = registry_sso
    patron_id = await new_student(apps)
    person, other = await apps.person(), await apps.person()
    await person.sso_login("anna-at-uni", student_id="S1001")
    sealed = person.portal.cookies[ACTIVATION_COOKIE]

    # Another browser given the cookie: it is bound to the browser that logged in.
    other.portal.cookies.set(ACTIVATION_COOKIE, sealed, domain="testserver")
    foreign = await other.portal.get("/activate/sso")
    assert foreign.status_code == 403
    assert 'href="/login/sso?next=/card"' in foreign.text

    page = await person.portal.get("/activate/sso")
    apps.clock.advance(timedelta(minutes=31))
    late = await person.portal.post("/activate/sso", data={**CHOSEN, "csrf": csrf(page.text)})
    assert late.status_code == 403
    assert alert(late.text) == str(escape(translate("da", SSO_MESSAGES["sso_activation_expired"])))
    assert (await events(apps.runtime, "patron:activate", patron_id)) == []


async def test_the_form_needs_its_csrf_token(registry_sso: AppPortal) -> None:
    patron_id = await new_student(registry_sso)
    person = await registry_sso.person()
    await person.sso_login("anna-at-uni", student_id="S1001")

    answer = await person.portal.post("/activate/sso", data=CHOSEN)

    assert answer.status_code == 403
    assert alert(answer.text) == str(escape(translate("da", MESSAGES["csrf_failed"])))
    assert (await events(registry_sso.runtime, "patron:activate", patron_id)) == []


async def test_an_account_linked_to_another_identity_is_refused_and_recorded(
    registry_sso: AppPortal,
) -> None:
    apps = registry_sso
    patron_id, number = await activated_student(apps)
    await apps.link(PatronHandle(patron_id, number, None, "2580", "Reading-Room-42", None), "old")
    person = await apps.person()

    answer = await person.sso_login("impostor", student_id="S1001")

    assert answer.status_code == 403
    assert (await person.portal.get("/card")).status_code == 303
    [refusal] = await events(apps.runtime, "identity:refuse", patron_id)
    assert refusal.details["code"] == "identity_other_person"
    assert len(await identities_of(apps.runtime, patron_id)) == 1


async def test_an_expired_student_account_does_not_open(registry_sso: AppPortal) -> None:
    apps = registry_sso
    await new_student(apps, "S1003;Cai;Lund;2002-02-02;cai@stud.nordby.example;Vejle;2025-06-30")
    person = await apps.person()

    answer = await person.sso_login("cai-at-uni", student_id="S1003")

    assert answer.status_code == 403
    assert alert(answer.text) == str(escape(translate("da", SSO_MESSAGES["account_expired"])))


def test_the_registry_claim_needs_its_institution() -> None:
    with pytest.raises(ValidationError, match="BROKER_REGISTRY_INSTITUTION"):
        Settings(broker_registry_claim="student_id")
    with pytest.raises(ValidationError, match="BROKER_REGISTRY_CLAIM"):
        Settings(broker_registry_institution="nordby")
