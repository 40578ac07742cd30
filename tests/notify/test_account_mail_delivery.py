"""The mail about account changes, delivered over SMTP to a real server on loopback: each
message in its patron's language, and a server that answers "try again later" (451) gets the
message again later, once."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import select

from libcard.blocks.service import place_staff_block
from libcard.cards.pin import change_pin
from libcard.cards.service import cards_of, report_lost
from libcard.context import ActorKind
from libcard.kit.clock import FrozenClock
from libcard.notify.models import OutboundMail
from libcard.notify.sender import deliver_pending
from libcard.runtime import Runtime
from tests.conftest import PatronHandle, World
from tests.notify.conftest import Inbox


async def _patron(world: World, language: str, address: str) -> PatronHandle:
    return await world.patron(
        "external", email=address, preferred_language=language, last_name="Holm"
    )


def _text(message: EmailMessage) -> str:
    # An 8-bit body (Danish, German) comes back with the CRLF line ends of the wire.
    return "\n".join(message.get_content().splitlines())


async def _mails(runtime: Runtime) -> list[OutboundMail]:
    async with runtime.unit(readonly=True) as ctx:
        return list(await ctx.session.scalars(select(OutboundMail).order_by(OutboundMail.id)))


async def test_each_patron_receives_the_mail_in_their_own_language(
    world: World, inbox: Inbox
) -> None:
    danish = await _patron(world, "da", "dansk@example.org")
    german = await _patron(world, "de", "deutsch@example.org")
    english = await _patron(world, "en", "english@example.org")
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=danish.id)) as ctx:
        await change_pin(ctx, danish.id, danish.password, "7391")
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=german.id)) as ctx:
        [ecard] = await cards_of(ctx, german.id)
        await report_lost(ctx, ecard.id)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, english.id, "Unreturned laptop")

    assert await deliver_pending(world.runtime, inbox.transport) == 3
    received = {message["To"]: message for message in inbox.messages}
    assert sorted(received) == ["dansk@example.org", "deutsch@example.org", "english@example.org"]

    pin = received["dansk@example.org"]
    assert pin["Subject"] == "PIN-koden til din lånerkonto hos Nordby Library er ændret"
    body = _text(pin)
    assert body.startswith("Hej Karen Holm,\n")
    assert "Hvis du selv har ændret den, skal du ikke gøre mere." in body
    assert "7391" not in body
    assert body.endswith("Venlig hilsen\nNordby Library")

    lost = received["deutsch@example.org"]
    assert (
        lost["Subject"] == "Ihr Bibliotheksausweis bei Nordby Library wurde als verloren gemeldet"
    )
    body = _text(lost)
    assert body.startswith("Guten Tag Karen Holm,\n")
    assert f"Ihr Bibliotheksausweis mit der Endung {german.ecard[-4:]} wurde am" in body
    assert german.ecard not in body

    block = received["english@example.org"]
    assert block["Subject"] == "Your library account at Nordby Library has been blocked"
    lines = _text(block).splitlines()
    assert lines[lines.index("Why:") + 1] == "Blocked by the library. Reason: Unreturned laptop"
    assert lines[lines.index("What lifts the block:") + 1] == "Contact the lending desk."

    # Sent, the bodies are not kept.
    assert [mail.body for mail in await _mails(world.runtime)] == ["", "", ""]


async def test_a_server_answering_try_again_later_gets_the_mail_later_once(
    world: World, clock: FrozenClock, inbox: Inbox
) -> None:
    patron = await _patron(world, "de", "deutsch@example.org")
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=patron.id)) as ctx:
        await change_pin(ctx, patron.id, patron.password, "7391")

    inbox.busy = True
    assert await deliver_pending(world.runtime, inbox.transport) == 0
    assert inbox.deferred == 1
    assert inbox.messages == []
    [waiting] = await _mails(world.runtime)
    assert waiting.attempts == 1
    assert waiting.sent_at is None
    assert waiting.failed_at is None
    assert waiting.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert waiting.last_error is not None
    assert "451" in waiting.last_error
    assert waiting.body  # kept for the next attempt

    # The server is able again, but the retry is not due yet.
    inbox.busy = False
    clock.advance(timedelta(seconds=30))
    assert await deliver_pending(world.runtime, inbox.transport) == 0
    assert inbox.messages == []

    clock.advance(timedelta(seconds=30))
    assert await deliver_pending(world.runtime, inbox.transport) == 1
    assert await deliver_pending(world.runtime, inbox.transport) == 0
    [message] = inbox.messages
    assert message["To"] == "deutsch@example.org"
    assert message["Subject"] == "Die PIN Ihres Bibliothekskontos bei Nordby Library wurde geändert"
    assert "Wenn Sie sie selbst geändert haben, ist nichts weiter zu tun." in _text(message)
    [sent] = await _mails(world.runtime)
    assert sent.sent_at == clock.now()
    assert sent.attempts == 1
    assert sent.body == ""
