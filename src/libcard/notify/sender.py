"""Sending the outbox: transports (SMTP, files, the log) and the background sender.

Each mail is claimed, sent and recorded in units of work of its own, so one bad address does
not hold back the others. Claiming moves the row's `next_attempt_at` past the time a send may
take; the result is then written only if the claim still stands, so two senders — two
processes, say — never send the same row twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import itertools
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender
from sqlalchemy import select, update
from starlette.requests import HTTPConnection

from libcard.config import Settings
from libcard.notify.models import OutboundMail
from libcard.runtime import Runtime

if TYPE_CHECKING:
    from starlette.applications import Starlette

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
# A claimed row is left alone this long; a send is cut off well before, so a claim never
# runs out while its mail is still being sent.
CLAIM = timedelta(minutes=10)
SEND_LIMIT_SECONDS = 5 * 60.0
POLL_SECONDS = 5.0
STOP_GRACE_SECONDS = 10.0

# Headers are written unfolded up to the 998 characters a line may have. Python's email
# package folds a subject with non-ASCII letters (Danish, German) into encoded words in a way
# that reads back with a doubled space, "wurde  geändert"; a subject of at most 300
# characters needs no folding.
WIRE = email.policy.SMTP.clone(max_line_length=998)
FILE = email.policy.default.clone(max_line_length=998)


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    tls: bool = False
    timeout_seconds: float = 30.0

    async def send(self, message: EmailMessage) -> None:
        sender, recipients = extract_sender(message), extract_recipients(message)
        content: EmailMessage | bytes = message.as_bytes(policy=WIRE)
        if not all(address.isascii() for address in [sender or "", *recipients]):
            content = message  # the client asks for SMTPUTF8 and writes headers in UTF-8
        await aiosmtplib.send(
            content,
            sender=sender,
            recipients=recipients,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.tls,
            # Explicit: left to itself the client upgrades whenever the server offers it.
            start_tls=self.starttls,
            timeout=self.timeout_seconds,
        )


class FileTransport:
    """Each message as an .eml file: for the embedded setup and development. The names sort
    by the time of sending."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._serial = itertools.count()

    async def send(self, message: EmailMessage) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{os.getpid()}-{next(self._serial):06d}.eml"
        await asyncio.to_thread(self._write, name, message.as_bytes(policy=FILE))

    def _write(self, name: str, data: bytes) -> None:
        # Bodies hold one-time secrets: readable by libcard's own user only.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.directory / f".{name}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        # Renamed when complete, so whoever watches the directory never reads half a message.
        partial.rename(self.directory / name)


class ConsoleTransport:
    """Logs that a mail went out — recipient and subject only: bodies hold one-time secrets."""

    async def send(self, message: EmailMessage) -> None:
        logger.info("mail to %s: %s", message["To"], message["Subject"])


def transport_from(settings: Settings) -> Transport:
    if settings.mail_transport == "smtp":
        password = settings.smtp_password
        return SmtpTransport(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            timeout_seconds=settings.smtp_timeout_seconds,
        )
    if settings.mail_transport == "console":
        return ConsoleTransport()
    return FileTransport(settings.mail_dir)


def retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 1 minute, 2, 4 … at most an hour."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 16)), LONGEST_RETRY)


@dataclass(frozen=True)
class _Claim:
    id: int
    to_address: str
    subject: str
    body: str
    created_at: datetime
    attempts: int
    until: datetime  # the row's next_attempt_at while claimed: the mark of this claim


async def _claim_next(runtime: Runtime) -> _Claim | None:
    async with runtime.unit() as ctx:
        now = ctx.clock.now()
        mail = await ctx.session.scalar(
            select(OutboundMail)
            .where(
                OutboundMail.sent_at.is_(None),
                OutboundMail.failed_at.is_(None),
                OutboundMail.next_attempt_at <= now,
            )
            .order_by(OutboundMail.next_attempt_at, OutboundMail.id)
            .limit(1)
            # PostgreSQL: a row another sender is claiming is skipped, not waited for. SQLite
            # has no row locks; its writing units begin IMMEDIATE, which serialises claims.
            .with_for_update(skip_locked=True)
        )
        if mail is None:
            return None
        mail.next_attempt_at = now + CLAIM
        return _Claim(
            id=mail.id,
            to_address=mail.to_address,
            subject=mail.subject,
            body=mail.body,
            created_at=mail.created_at,
            attempts=mail.attempts,
            until=mail.next_attempt_at,
        )


def _message(claim: _Claim, settings: Settings, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = claim.to_address
    message["Subject"] = claim.subject
    message["Date"] = email.utils.format_datetime(now)
    domain = email.utils.parseaddr(settings.mail_from)[1].rpartition("@")[2] or "libcard"
    # The same for every attempt at this row, so a receiver can tell a repeat.
    message["Message-ID"] = f"<{claim.created_at:%Y%m%d%H%M%S}.{claim.id}.libcard@{domain}>"
    message.set_content(claim.body, subtype="plain", charset="utf-8")
    return message


def _describe(error: BaseException) -> str:
    # Short and one line. Error texts come from the mail server or the network, never from
    # the message, so they carry no code or link.
    text = " ".join(str(error).split()) or "no details"
    return f"{type(error).__name__}: {text}"[:200]


async def _record(runtime: Runtime, claim: _Claim, error: BaseException | None) -> bool:
    """Write the outcome if the claim still stands; False if another sender took the row."""
    async with runtime.unit() as ctx:
        now = ctx.clock.now()
        if error is None:
            # Sent: the body, with its code or link, is not kept.
            values: dict[str, object] = {"sent_at": now, "body": ""}
        else:
            attempts = claim.attempts + 1
            values = {"attempts": attempts, "last_error": _describe(error)}
            if attempts >= MAX_ATTEMPTS:
                # Given up: the body will never be sent, so it is not kept either.
                values.update(failed_at=now, body="")
            else:
                values["next_attempt_at"] = now + retry_delay(attempts)
        result = await ctx.session.execute(
            update(OutboundMail)
            .where(
                OutboundMail.id == claim.id,
                OutboundMail.next_attempt_at == claim.until,
                OutboundMail.sent_at.is_(None),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def deliver_pending(runtime: Runtime, transport: Transport, *, limit: int = 50) -> int:
    """Send up to `limit` mails that are due; returns how many went out. A failed send is
    retried later (1 minute, 2, 4 … at most an hour apart) and given up after 8 attempts."""
    sent = 0
    for _ in range(limit):
        claim = await _claim_next(runtime)
        if claim is None:
            break
        error: Exception | None = None
        try:
            message = _message(claim, runtime.settings, runtime.clock.now())
            async with asyncio.timeout(SEND_LIMIT_SECONDS):
                await transport.send(message)
        except Exception as failure:
            error = failure
            logger.warning("mail %s not sent: %s", claim.id, _describe(failure))
        if not await _record(runtime, claim, error):
            logger.warning("mail %s was taken over by another sender meanwhile", claim.id)
        elif error is None:
            sent += 1
    return sent


class MailSender:
    """Sends the outbox in the background: when woken after a request queued mail, and every
    few seconds in any case (retries come due, other processes queue mail too)."""

    def __init__(
        self,
        runtime: Runtime,
        transport: Transport,
        *,
        interval_seconds: float = POLL_SECONDS,
        limit: int = 50,
    ) -> None:
        self.runtime = runtime
        self.transport = transport
        self.interval_seconds = interval_seconds
        self.limit = limit
        self.woken = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="libcard mail sender")

    def wake(self) -> None:
        self.woken.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.woken.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
        except TimeoutError:
            # A send still hanging: its row stays claimed and is sent again later.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before sending, so a wake during a round brings another round.
            self.woken.clear()
            try:
                while await deliver_pending(self.runtime, self.transport, limit=self.limit) >= (
                    self.limit
                ):
                    if self._stopping:
                        break
            except Exception:
                logger.exception("the mail sender failed; it tries again shortly")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), self.interval_seconds)


def wake_mail(request_or_app: HTTPConnection | Starlette) -> None:
    """Tell the application's mail sender that a committed unit of work queued mail. Where no
    sender runs (an app whose lifespan did not start), the mail waits for the next one."""
    app = request_or_app.app if isinstance(request_or_app, HTTPConnection) else request_or_app
    sender = getattr(app.state, "mail_sender", None)
    if isinstance(sender, MailSender):
        sender.wake()
