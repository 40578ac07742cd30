"""The mail outbox: queued in the caller's transaction, sent by SMTP once, retried with
backoff, never twice, and the body — it holds the one-time secret — erased once sent."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gettext
import logging
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from libcard.kit.clock import FrozenClock
from libcard.kit.i18n import day, translate
from libcard.notify import service as notify_service
from libcard.notify.models import OutboundMail
from libcard.notify.sender import (
    ConsoleTransport,
    FileTransport,
    MailSender,
    SmtpTransport,
    deliver_pending,
    retry_delay,
    transport_from,
    wake_mail,
)
from libcard.notify.service import TEMPLATES, queue_mail, render_mail
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import World
from tests.notify.conftest import Inbox, free_port

CODE = "K7PM-X3QD-WR"


def _values(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "patron_name": "Karen Holm",
        "institution_name": "Nordby Library",
        "card_number": "27700000000012",
        "code": CODE,
        "valid_until": "4 February 2026",
        "activate_url": "https://library.example.org/activate",
    }
    values.update(changes)
    return values


async def _queue(
    runtime: Runtime, to: str = "karen@example.org", language: str = "en", **values: object
) -> int:
    async with runtime.unit() as ctx:
        mail = await queue_mail(
            ctx, template="activation_code", to=to, language=language, values=_values(**values)
        )
        return mail.id


async def _mail(runtime: Runtime, mail_id: int) -> OutboundMail:
    async with runtime.unit(readonly=True) as ctx:
        mail = await ctx.session.get(OutboundMail, mail_id)
        assert mail is not None
        return mail


async def test_a_queued_mail_is_sent_once_and_its_body_erased(
    runtime: Runtime, world: World, clock: FrozenClock, inbox: Inbox
) -> None:
    mail_id = await _queue(runtime)
    queued = await _mail(runtime, mail_id)
    assert queued.next_attempt_at == clock.now()
    assert CODE in queued.body
    assert queued.subject == "Activate your library account at Nordby Library"

    assert await deliver_pending(runtime, inbox.transport) == 1

    [message] = inbox.messages
    assert message["To"] == "karen@example.org"
    assert message["Subject"] == "Activate your library account at Nordby Library"
    assert message["From"] == runtime.settings.mail_from
    assert message["Message-ID"]
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    body = message.get_content()
    assert CODE in body
    assert "https://library.example.org/activate" in body
    assert "27700000000012" in body
    assert body.rstrip().endswith("Nordby Library")  # signed by the institution
    assert inbox.envelopes == [("noreply@localhost", ["karen@example.org"])]

    sent = await _mail(runtime, mail_id)
    assert sent.sent_at == clock.now()
    assert sent.body == ""  # the code is not kept once it went out
    assert sent.attempts == 0
    assert sent.failed_at is None

    assert await deliver_pending(runtime, inbox.transport) == 0
    assert len(inbox.messages) == 1


async def test_mail_queued_in_a_unit_that_fails_is_never_sent(
    runtime: Runtime, world: World, inbox: Inbox
) -> None:
    async def queue_then_fail() -> None:
        async with runtime.unit() as ctx:
            await queue_mail(
                ctx, template="activation_code", to="x@example.org", language="en", values=_values()
            )
            raise RuntimeError("the change that queued it failed")

    with pytest.raises(RuntimeError):
        await queue_then_fail()
    assert await deliver_pending(runtime, inbox.transport) == 0
    assert inbox.messages == []


async def test_a_refused_mail_is_retried_with_backoff_and_sent_once(
    runtime: Runtime, world: World, clock: FrozenClock, inbox: Inbox
) -> None:
    mail_id = await _queue(runtime, to="nobody@example.org")
    inbox.refuse = True
    assert await deliver_pending(runtime, inbox.transport) == 0
    failed = await _mail(runtime, mail_id)
    assert failed.attempts == 1
    assert failed.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert failed.sent_at is None
    assert failed.failed_at is None
    assert failed.last_error is not None
    assert failed.last_error.startswith("SMTPRecipientsRefused")
    assert "550" in failed.last_error
    assert CODE not in failed.last_error
    assert CODE in failed.body  # kept for the next attempt

    # Not due yet: nothing is tried, whatever the server would say now.
    inbox.refuse = False
    clock.advance(timedelta(seconds=59))
    assert await deliver_pending(runtime, inbox.transport) == 0
    assert inbox.messages == []

    clock.advance(timedelta(seconds=1))
    assert await deliver_pending(runtime, inbox.transport) == 1
    assert await deliver_pending(runtime, inbox.transport) == 0
    [message] = inbox.messages
    assert message["To"] == "nobody@example.org"
    sent = await _mail(runtime, mail_id)
    assert sent.sent_at == clock.now()
    assert sent.body == ""
    assert sent.attempts == 1


async def test_one_refused_address_does_not_hold_back_the_others(
    runtime: Runtime, world: World, inbox: Inbox
) -> None:
    class RefusingOne(SmtpTransport):
        async def send(self, message: email.message.EmailMessage) -> None:
            if message["To"] == "broken@example.org":
                raise ConnectionRefusedError("the relay hung up")
            await super().send(message)

    await _queue(runtime, to="first@example.org")
    await _queue(runtime, to="broken@example.org")
    await _queue(runtime, to="third@example.org")
    transport = RefusingOne(host="127.0.0.1", port=inbox.port, timeout_seconds=5)
    assert await deliver_pending(runtime, transport) == 2
    assert sorted(m["To"] for m in inbox.messages) == ["first@example.org", "third@example.org"]


async def test_backoff_doubles_up_to_an_hour_and_gives_up_after_eight_attempts(
    runtime: Runtime, world: World, clock: FrozenClock
) -> None:
    """Nothing listens on the port: every attempt fails the way an unreachable relay does."""
    closed = SmtpTransport(host="127.0.0.1", port=free_port(), timeout_seconds=5)
    mail_id = await _queue(runtime)
    waits = []
    for attempt in range(1, 8):
        assert await deliver_pending(runtime, closed) == 0
        mail = await _mail(runtime, mail_id)
        assert mail.attempts == attempt
        assert mail.failed_at is None
        waits.append(mail.next_attempt_at - clock.now())
        clock.advance(mail.next_attempt_at - clock.now())
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]

    assert await deliver_pending(runtime, closed) == 0
    given_up = await _mail(runtime, mail_id)
    assert given_up.attempts == 8
    assert given_up.failed_at == clock.now()
    assert given_up.body == ""  # never to be sent: the code is not kept either
    assert given_up.last_error

    clock.advance(timedelta(days=1))
    assert await deliver_pending(runtime, closed) == 0
    assert (await _mail(runtime, mail_id)).attempts == 8


def test_retry_delays() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 6, 7, 8, 50)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 32, 60, 60, 60)
    ]


async def test_two_senders_never_send_the_same_mail_twice(
    runtime: Runtime, world: World, clock: FrozenClock, inbox: Inbox
) -> None:
    """Two processes sending the same outbox at once: each mail goes out exactly once."""
    addresses = [f"patron{n}@example.org" for n in range(12)]
    for address in addresses:
        await _queue(runtime, to=address)
    other = Runtime.build(runtime.settings, clock=clock)
    try:
        counts = await asyncio.gather(
            deliver_pending(runtime, inbox.transport, limit=50),
            deliver_pending(other, inbox.transport, limit=50),
        )
    finally:
        await other.close()
    assert sum(counts) == len(addresses)
    assert sorted(m["To"] for m in inbox.messages) == sorted(addresses)
    async with runtime.unit(readonly=True) as ctx:
        unsent = await ctx.session.scalars(
            select(OutboundMail).where(OutboundMail.sent_at.is_(None))
        )
        assert list(unsent) == []


async def test_the_file_transport_writes_readable_eml_files(
    runtime: Runtime, world: World, tmp_path: Path
) -> None:
    directory = tmp_path / "mail" / "outbox"  # made when the first mail is written
    await _queue(runtime, to="first@example.org")
    await _queue(runtime, to="second@example.org", code="SECOND-CODE")
    assert await deliver_pending(runtime, FileTransport(directory)) == 2

    files = sorted(directory.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    messages = [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
    ]
    # Names sort by the time of writing: the order the mails were sent in.
    assert [m["To"] for m in messages] == ["first@example.org", "second@example.org"]
    assert messages[0]["Subject"] == "Activate your library account at Nordby Library"
    assert isinstance(messages[1], email.message.EmailMessage)
    assert "SECOND-CODE" in messages[1].get_content()


async def test_the_console_transport_logs_no_body(
    runtime: Runtime, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await _queue(runtime)
    with caplog.at_level(logging.INFO, logger="libcard.notify.sender"):
        assert await deliver_pending(runtime, ConsoleTransport()) == 1
    assert "karen@example.org" in caplog.text
    assert "Activate your library account at Nordby Library" in caplog.text
    assert CODE not in caplog.text


def test_the_transport_follows_the_settings(runtime: Runtime, tmp_path: Path) -> None:
    settings = runtime.settings.model_copy(
        update={
            "mail_transport": "smtp",
            "smtp_host": "smtp.example.org",
            "smtp_port": 587,
            "smtp_username": "libcard",
            "smtp_password": SecretStr("s3cret"),
            "smtp_starttls": True,
            "smtp_timeout_seconds": 12.5,
        }
    )
    smtp = transport_from(settings)
    assert smtp == SmtpTransport(
        host="smtp.example.org",
        port=587,
        username="libcard",
        password="s3cret",
        starttls=True,
        tls=False,
        timeout_seconds=12.5,
    )
    assert "s3cret" not in repr(smtp)
    files = transport_from(
        settings.model_copy(update={"mail_transport": "file", "mail_dir": tmp_path})
    )
    assert isinstance(files, FileTransport)
    assert files.directory == tmp_path
    console = transport_from(settings.model_copy(update={"mail_transport": "console"}))
    assert isinstance(console, ConsoleTransport)


async def test_the_sender_survives_a_failing_transport_and_sends_when_woken(
    runtime: Runtime, world: World, inbox: Inbox
) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        async def send(self, message: email.message.EmailMessage) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("the relay is down")
            await inbox.transport.send(message)

    await _queue(runtime, to="first@example.org")
    flaky = Flaky()
    sender = MailSender(runtime, flaky, interval_seconds=60)
    sender.start()
    try:
        await _until(lambda: flaky.calls == 1)
        await _queue(runtime, to="second@example.org")
        sender.wake()
        await _until(lambda: len(inbox.messages) == 1)
    finally:
        await sender.stop()
    assert inbox.messages[0]["To"] == "second@example.org"  # the first waits for its retry


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("did not happen in time")


async def test_the_app_runs_the_sender_and_a_route_wakes_it(
    runtime: Runtime, world: World, clock: FrozenClock, inbox: Inbox
) -> None:
    settings = runtime.settings.model_copy(
        update={"mail_transport": "smtp", "smtp_host": "127.0.0.1", "smtp_port": inbox.port}
    )
    served = Runtime.build(settings, clock=clock)
    app = create_app(served)
    try:
        async with app.router.lifespan_context(app):
            sender = app.state.mail_sender
            assert isinstance(sender, MailSender)
            sender.woken.clear()
            wake_mail(app)
            assert sender.woken.is_set()
            await _queue(served, to="woken@example.org")
            wake_mail(app)
            await _until(lambda: len(inbox.messages) == 1)
        assert app.state.mail_sender._task is None  # stopped with the app
    finally:
        await served.close()
    assert inbox.messages[0]["To"] == "woken@example.org"


def test_without_a_running_sender_waking_does_nothing(runtime: Runtime) -> None:
    wake_mail(create_app(runtime))  # an app whose lifespan never ran: the mail waits


# --- rendering ---------------------------------------------------------------------------


def test_unknown_templates_and_missing_values_are_refused() -> None:
    with pytest.raises(ValueError, match="No mail template 'welcome'"):
        render_mail("welcome", "en", {})
    incomplete = {k: v for k, v in _values().items() if k not in ("code", "activate_url")}
    with pytest.raises(ValueError, match="needs activate_url, code"):
        render_mail("activation_code", "en", incomplete)


def test_the_password_reset_mail() -> None:
    mail = render_mail(
        "password_reset",
        "en",
        {
            "patron_name": "Karen Holm",
            "institution_name": "Nordby Library",
            "reset_url": "https://library.example.org/password/reset/tok3n",
            "valid_minutes": 60,
        },
    )
    assert mail.subject == "Reset your library password at Nordby Library"
    assert "Hello Karen Holm," in mail.body
    assert "https://library.example.org/password/reset/tok3n" in mail.body.splitlines()
    assert "60 minutes" in mail.body
    assert "ignore this e-mail" in mail.body
    assert mail.body.endswith("Nordby Library\n")


def test_each_template_has_a_subject_and_a_file() -> None:
    for name in TEMPLATES:
        assert (notify_service.TEMPLATE_DIR / f"{name}.txt").is_file()


@pytest.fixture
def marking_catalogue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stand-in catalogue for "da" that marks every text it translates, whatever the .po
    holds: «text»."""

    class Marking(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return f"«{message}»"

        def ngettext(self, singular: str, plural: str, n: int) -> str:
            return f"«{singular if n == 1 else plural}»"

    monkeypatch.setattr(
        notify_service,
        "translations",
        lambda language: Marking() if language == "da" else gettext.NullTranslations(),
    )
    notify_service._environment.cache_clear()
    yield
    notify_service._environment.cache_clear()


@pytest.mark.usefixtures("marking_catalogue")
def test_template_texts_go_through_the_catalogue_of_the_language() -> None:
    danish = render_mail("activation_code", "da", _values()).body
    english = render_mail("activation_code", "en", _values()).body
    assert "«Hello Karen Holm,»" in danish  # the text translated, the value filled in
    assert f"«Activation code:» {CODE}" in danish
    assert danish.endswith("«Kind regards»\nNordby Library\n")
    assert "Hello Karen Holm," in english


async def test_a_danish_mail_is_rendered_in_danish(
    runtime: Runtime, world: World, clock: FrozenClock
) -> None:
    """The Danish catalogue may not have these texts yet, so only what does not depend on it
    is checked in Danish words: the date. The rest is the structure of the mail."""
    until = day(clock.now() + timedelta(days=30), "da")
    mail_id = await _queue(runtime, language="da", valid_until=until)
    mail = await _mail(runtime, mail_id)
    assert mail.language == "da"
    assert "februar" in until
    assert until in mail.body
    assert mail.subject == translate(
        "da", TEMPLATES["activation_code"].subject, institution_name="Nordby Library"
    )
    lines = mail.body.splitlines()
    assert any(line.endswith(CODE) for line in lines)
    assert any(line.endswith("27700000000012") for line in lines)
    assert "https://library.example.org/activate" in lines
    assert lines[-1] == "Nordby Library"
    assert "{" not in mail.body
    assert "%(" not in mail.body


async def test_an_unsupported_language_gets_the_source_language(
    runtime: Runtime, world: World
) -> None:
    mail = await _mail(runtime, await _queue(runtime, language="fr"))
    assert mail.language == "en"
    assert "Hello Karen Holm," in mail.body
