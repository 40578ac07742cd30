"""The activation code by e-mail (R1, R2): registering a patron, or issuing a new code, with
channel "email" queues a mail with the code in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from libcard.kit.i18n import day, translate
from libcard.notify.models import OutboundMail
from libcard.notify.sender import deliver_pending
from libcard.patrons.models import SecretToken
from libcard.runtime import Runtime
from tests.api.conftest import API, Api, assert_problem
from tests.notify.conftest import Inbox

PASSWORD = "Quiet-Reading-Room-7"


async def _register(api: Api, **body: Any) -> dict[str, Any]:
    payload = {"group": "external", "first_name": "Sofie", "last_name": "Vinter", **body}
    response = await api.client.post(
        f"{API}/institutions/{api.world.institution_id}/patrons", json=payload, headers=api.desk
    )
    assert response.status_code == 201, response.text
    registration: dict[str, Any] = response.json()
    return registration


async def _outbox(runtime: Runtime) -> list[OutboundMail]:
    async with runtime.unit(readonly=True) as ctx:
        return list(await ctx.session.scalars(select(OutboundMail).order_by(OutboundMail.id)))


async def test_registering_by_email_mails_the_code_the_api_returned(api: Api, inbox: Inbox) -> None:
    registration = await _register(
        api, email="Sofie.Vinter@Example.org", preferred_language="en", activation_channel="email"
    )
    code, number = registration["activation_code"], registration["ecard"]["number"]
    assert code

    [queued] = await _outbox(api.runtime)
    assert queued.patron_id == registration["patron"]["id"]
    assert queued.template == "activation_code"
    assert queued.language == "en"

    assert await deliver_pending(api.runtime, inbox.transport) == 1
    [message] = inbox.messages
    assert message["To"] == "sofie.vinter@example.org"
    assert message["Subject"] == "Activate your library account at Nordby Library"
    body = message.get_content()
    assert code in body
    assert number in body
    assert "Hello Sofie Vinter," in body
    assert f"{api.runtime.settings.public_url}/activate" in body.splitlines()
    assert body.rstrip().endswith("Nordby Library")

    # The code in the mail is the one that activates the account.
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    response = await api.client.post(
        f"{API}/activation",
        json={"card_number": number, "code": code, "password": PASSWORD, "pin": "4826"},
        headers=activation,
    )
    assert response.status_code == 200, response.text
    [sent] = await _outbox(api.runtime)
    assert sent.body == ""


async def test_a_letter_sends_no_mail(api: Api) -> None:
    await _register(api, email="letter@example.org", activation_channel="letter")
    await _register(api, email="nochannel@example.org")
    assert await _outbox(api.runtime) == []


async def test_a_new_code_by_email_goes_to_the_institutional_address_if_no_private_one(
    api: Api, inbox: Inbox
) -> None:
    patron = await api.world.patron(
        "student", activate=False, institutional_email="s123456@student.example.org"
    )
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/activation-codes", json={"channel": "email"}, headers=api.desk
    )
    assert response.status_code == 201, response.text
    fresh = response.json()
    assert fresh["channel"] == "email"
    assert await deliver_pending(api.runtime, inbox.transport) == 1
    [message] = inbox.messages
    assert message["To"] == "s123456@student.example.org"
    body = message.get_content()
    assert fresh["code"] in body
    assert patron.ecard in body
    assert patron.activation_code is not None
    assert patron.activation_code not in body  # the letter's code, revoked by this one


async def test_a_private_address_is_preferred(api: Api, inbox: Inbox) -> None:
    patron = await api.world.patron(
        "employee",
        activate=False,
        email="karen@example.org",
        institutional_email="kh@staff.example.org",
    )
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/activation-codes", json={"channel": "email"}, headers=api.desk
    )
    assert response.status_code == 201, response.text
    [queued] = await _outbox(api.runtime)
    assert queued.to_address == "karen@example.org"


async def test_email_is_refused_for_a_patron_without_an_address(api: Api) -> None:
    patron = await api.world.patron("external", activate=False, email=None)
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/activation-codes", json={"channel": "email"}, headers=api.desk
    )
    assert_problem(response, 422, "email_missing")
    assert await _outbox(api.runtime) == []

    # Nothing changed: the code from the letter still works.
    assert patron.activation_code is not None
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    response = await api.client.post(
        f"{API}/activation",
        json={
            "card_number": patron.ecard,
            "code": patron.activation_code,
            "password": PASSWORD,
            "pin": "4826",
        },
        headers=activation,
    )
    assert response.status_code == 200, response.text


async def test_registration_by_email_without_an_address_is_refused_whole(api: Api) -> None:
    payload = {
        "group": "external",
        "first_name": "Ib",
        "last_name": "Uden-Post",
        "activation_channel": "email",
    }
    response = await api.client.post(
        f"{API}/institutions/{api.world.institution_id}/patrons", json=payload, headers=api.desk
    )
    assert_problem(response, 422, "email_missing")
    search = await api.client.get(
        f"{API}/institutions/{api.world.institution_id}/patrons",
        params={"name": "Uden-Post"},
        headers=api.desk,
    )
    assert search.json() == []
    assert await _outbox(api.runtime) == []


async def test_the_mail_is_in_the_patrons_language_or_the_institutions(
    api: Api, inbox: Inbox
) -> None:
    """The institution's default language is Danish. The Danish catalogue may not hold these
    texts yet, so Danish words are checked only where they come from Babel (the date)."""
    registrations = [
        await _register(api, email="dansk@example.org", activation_channel="email"),
        await _register(
            api, email="deutsch@example.org", preferred_language="de", activation_channel="email"
        ),
    ]
    danish, german = await _outbox(api.runtime)
    assert danish.language == "da"
    assert german.language == "de"

    async with api.runtime.unit(readonly=True) as ctx:
        token = await ctx.session.scalar(
            select(SecretToken).where(SecretToken.patron_id == registrations[0]["patron"]["id"])
        )
        assert token is not None
    assert day(token.expires_at, "da") == "4. februar 2026"
    assert day(token.expires_at, "da") in danish.body
    assert day(token.expires_at, "de") in german.body  # 4. Februar 2026
    for mail, registration in zip((danish, german), registrations, strict=True):
        lines = mail.body.splitlines()
        # In the catalogue's words where it has them, else in English: never a mix of both.
        assert lines[0] == translate(
            mail.language, "Hello %(patron_name)s,", patron_name="Sofie Vinter"
        )
        assert mail.subject == translate(
            mail.language,
            "Activate your library account at %(institution_name)s",
            institution_name="Nordby Library",
        )
        assert any(line.endswith(registration["activation_code"]) for line in lines)
        assert any(line.endswith(registration["ecard"]["number"]) for line in lines)
        assert f"{api.runtime.settings.public_url}/activate" in lines
        assert lines[-1] == "Nordby Library"
        assert "%(" not in mail.body

    assert await deliver_pending(api.runtime, inbox.transport) == 2
    assert [m["To"] for m in inbox.messages] == ["dansk@example.org", "deutsch@example.org"]
