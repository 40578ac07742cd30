"""The SIP2 server: TCP (optionally TLS) connections from self-checkout machines.

One connection is one machine, kept open for hours; it sends a message, waits for the answer,
sends the next. The server reads one message at a time (CR ends it, a CRLF's LF is dropped),
answers what it cannot read with "96" (request SC resend) and keeps the connection, repeats
its last answer on "97", and echoes the machine's error detection (AY sequence, AZ checksum).
What a message means is the `Responder`'s business; the server knows bytes and lines.

A connection that sends nothing for `idle_seconds`, a line longer than `max_message_bytes`,
or a connection beyond `max_connections` is closed; that machine reconnects and logs in
again, and nobody else notices. Nothing a machine sends is logged: logins and PINs are in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from libcard.sip2.codec import DEFAULT_ENCODING, build, parse
from libcard.sip2.fields import PatronStatus, Sip2Error
from libcard.sip2.messages import (
    AcsMessage,
    PatronStatusResponse,
    RequestAcsResend,
    RequestScResend,
    ScMessage,
)

logger = logging.getLogger(__name__)

CR = b"\r"
RESEND = RequestScResend(checksummed=True)  # "96AZFEF6": the one answer to a broken line


@dataclass
class TerminalLogin:
    """The machine a connection belongs to, from its login (93)."""

    id: int
    login: str
    name: str
    institution_id: int
    institution_code: str
    institution_name: str
    branch_id: int
    branch_code: str
    timezone: str
    encoding: str
    language: str | None
    default_language: str


@dataclass
class Sip2Session:
    """What one connection remembers between messages."""

    peer: str
    encoding: str = DEFAULT_ENCODING
    terminal: TerminalLogin | None = None
    # The card whose PIN was last given right on this connection: the machine asks with the
    # PIN once (23 or 63) and then checks items out without it, until 35 or another card.
    verified_card: str | None = None
    last_reply: bytes | None = None
    checked_at: datetime | None = None  # when the terminal was last seen still in service

    def forget_patron(self) -> None:
        self.verified_card = None


class Responder(Protocol):
    async def respond(self, session: Sip2Session, message: ScMessage) -> AcsMessage:
        """The answer to `message`. Never raises: a failure is an answer saying so."""
        ...


class FixedReply:
    """Answers every message with the same reply, touching nothing: the benchmark's baseline
    for what the server itself costs, without the library behind it."""

    def __init__(self, reply: AcsMessage) -> None:
        self.reply = reply

    async def respond(self, session: Sip2Session, message: ScMessage) -> AcsMessage:
        return self.reply


@dataclass(frozen=True)
class Sip2Limits:
    idle_seconds: float = 600.0
    max_message_bytes: int = 16 * 1024
    max_connections: int = 512


class Sip2Server:
    def __init__(
        self,
        responder: Responder,
        *,
        host: str = "127.0.0.1",
        port: int = 6001,
        tls: ssl.SSLContext | None = None,
        limits: Sip2Limits | None = None,
    ) -> None:
        self.responder = responder
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.limits = limits or Sip2Limits()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self.requested_port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept,
            self.host,
            self.requested_port,
            ssl=self.tls,
            limit=self.limits.max_message_bytes,
            reuse_address=True,
            # Machines reconnect together after a restart; let them queue, not retry.
            backlog=min(self.limits.max_connections, 1024),
        )

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio always runs callbacks in a task
            return
        if len(self._connections) >= self.limits.max_connections:
            logger.warning("SIP2: refused a connection, %d are open", len(self._connections))
            writer.close()
            return
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        session = Sip2Session(peer=f"{peer[0]}:{peer[1]}" if peer else "?")
        try:
            await self._converse(session, reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the machine went away mid-message; it reconnects
        except asyncio.CancelledError:
            pass  # the server is closing
        except Exception:
            logger.exception("SIP2: a connection from %s failed", session.peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _converse(
        self, session: Sip2Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                raw = await asyncio.wait_for(reader.readuntil(CR), self.limits.idle_seconds)
            except TimeoutError:
                return  # idle: close, the machine reconnects when it needs to
            except asyncio.IncompleteReadError:
                return  # closed, perhaps in the middle of a message that is then dropped
            except asyncio.LimitOverrunError:
                # No end of line within the limit: not a SIP2 message, and what follows
                # cannot be trusted to start a new one either.
                writer.write(self._encode(session, RESEND))
                await writer.drain()
                return
            reply = await self.answer(session, raw)
            writer.write(reply)
            await writer.drain()

    async def answer(self, session: Sip2Session, raw: bytes) -> bytes:
        """The bytes to send back for one line from the machine."""
        line = raw.decode(session.encoding, errors="replace")
        try:
            message = parse(line, encoding=session.encoding)
        except Sip2Error as error:
            logger.info("SIP2: asked %s to resend: %s", session.peer, _first_words(error))
            return self._encode(session, RESEND)
        if isinstance(message, RequestAcsResend):
            return session.last_reply or self._encode(session, RESEND)
        if not isinstance(message, ScMessage):
            return self._encode(session, RESEND)  # an answer sent to the one who answers
        try:
            reply = await self.responder.respond(session, message)
            reply = replace(reply, sequence=message.sequence, checksummed=message.checksummed)
            data = self._encode(session, reply)
        except Exception:
            logger.exception("SIP2: could not answer a %s message", message.MESSAGE_ID)
            return self._encode(session, RESEND)
        session.last_reply = data
        return data

    @staticmethod
    def _encode(session: Sip2Session, message: AcsMessage) -> bytes:
        return build(message, encoding=session.encoding).encode(session.encoding, "replace")


def _first_words(error: Exception) -> str:
    # The codec's messages quote a little of the line; that can hold a PIN, so cut it short.
    return str(error).split(":")[0][:80]


def baseline_reply() -> AcsMessage:
    """A fixed, realistic patron status answer for the no-database baseline."""
    return PatronStatusResponse(
        patron_status=PatronStatus(),
        language=1,
        transaction_date=datetime(2026, 1, 1, 12, 0, 0),
        institution_id="BASE",
        patron_identifier="0000000000000",
        personal_name="Baseline Patron",
        valid_patron=True,
        valid_patron_password=True,
        currency_type="DKK",
        fee_amount="0.00",
    )


def tls_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context
