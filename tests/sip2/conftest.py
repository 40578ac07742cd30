"""A library behind a running SIP2 server, and a small client that talks to it over real
sockets: what the tests in this folder check is what a self-checkout machine would see.

`library` builds one institution with a branch, three terminals (cp850 in English, UTF-8 in
German, latin-1 in Danish), a few items and a patron in each state a machine must tell
apart, and starts `Sip2Server(LibcardResponder(runtime), port=0)` in the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pytest

from libcard.cards.pin import verify_pin
from libcard.cards.service import find_card, report_lost
from libcard.context import ActorKind
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.kit.clock import FrozenClock
from libcard.loans.service import create_item
from libcard.policy.branches import create_branch, create_terminal
from libcard.runtime import Runtime
from libcard.sip2 import (
    DEFAULT_ENCODING,
    AcsMessage,
    BlockPatronRequest,
    CheckinRequest,
    CheckoutRequest,
    EndPatronSessionRequest,
    FeePaidRequest,
    ItemInformationRequest,
    LoginRequest,
    LoginResponse,
    Message,
    PatronInformationRequest,
    PatronStatusRequest,
    RenewAllRequest,
    RenewRequest,
    ScMessage,
    ScStatus,
    Summary,
    build,
    parse,
)
from libcard.sip2.responder import LibcardResponder
from libcard.sip2.server import Sip2Limits, Sip2Server
from tests.conftest import PatronHandle, World

INSTITUTION = "nordby"
TIMEOUT = 5.0  # seconds to wait for an answer; the server answers in milliseconds
# What the machine's own clock says in its requests; libcard dates its answers itself.
WHEN = datetime(2026, 1, 5, 10, 0, 0)
PIN = "2580"  # every activated patron's PIN (tests.conftest.World.patron)
WRONG_PIN = "9999"

BOOKS = ("3800001", "3800002", "3800003")
REFERENCE_BOOK = "3800009"  # for use in the library only
UNKNOWN_ITEM = "3899999"
TITLES = {
    "3800001": "Kongens Fald",
    "3800002": "Pelle Erobreren",
    "3800003": "Babettes Gæstebud",
    REFERENCE_BOOK: "Den Store Danske, bind 1",
}
# key: (login, name, encoding, language)
TERMINALS = {
    "main": ("sco-main", "Self-checkout by the entrance", "cp850", "en"),
    "utf8": ("sco-utf8", "Self-checkout in the children's room", "utf-8", "de"),
    "latin1": ("sco-latin1", "Self-checkout on the first floor", "latin-1", "da"),
}
# A name no 7-bit encoding can carry: it comes back right only in the terminal's encoding.
FIRST_NAME, LAST_NAME = "Åse", "Ærø-Brühl"

A = TypeVar("A", bound=AcsMessage)


@dataclass(frozen=True)
class TerminalAccount:
    id: int
    login: str
    password: str
    name: str
    encoding: str


class Sip2Client:
    """One machine's connection: send a line, read one CR-terminated answer."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        encoding: str = DEFAULT_ENCODING,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.encoding = encoding

    @classmethod
    async def open(
        cls, port: int, *, tls: ssl.SSLContext | None = None, server_hostname: str | None = None
    ) -> Sip2Client:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, ssl=tls, server_hostname=server_hostname, limit=2**20
            ),
            TIMEOUT,
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> bytes:
        """Write `data` as it is and return the next answer line, CR included."""
        self.writer.write(data)
        await self.writer.drain()
        return await self.read()

    async def read(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r"), TIMEOUT)

    def parse(self, data: bytes) -> Message:
        return parse(data.decode(self.encoding), encoding=self.encoding)

    def line(self, request: ScMessage) -> bytes:
        return build(request, encoding=self.encoding).encode(self.encoding)

    async def ask(self, request: ScMessage, answer: type[A]) -> A:
        reply = self.parse(await self.send(self.line(request)))
        assert isinstance(reply, answer), reply
        return reply

    async def login(self, login: str, password: str) -> bool:
        return (await self.ask(login_request(login, password), LoginResponse)).ok

    async def until_closed(self, within: float = TIMEOUT) -> bytes | None:
        """What the server sent before it closed this connection, or None if it is still
        open after `within` seconds."""
        received = b""
        try:
            while chunk := await asyncio.wait_for(self.reader.read(65536), within):
                received += chunk
        except ConnectionError:
            pass  # closed while our own bytes were still unread: the end comes as a reset
        except TimeoutError:
            return None
        return received

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


@dataclass
class Library:
    runtime: Runtime
    clock: FrozenClock
    world: World
    server: Sip2Server
    terminals: dict[str, TerminalAccount]
    patrons: dict[str, PatronHandle]
    clients: list[Sip2Client] = field(default_factory=list)

    @property
    def institution_id(self) -> int:
        return self.world.institution_id

    def card(self, key: str) -> str:
        """The card the patron puts on the machine: the physical one where they have one."""
        patron = self.patrons[key]
        return patron.physical or patron.ecard

    async def connect(self, server: Sip2Server | None = None) -> Sip2Client:
        client = await Sip2Client.open((server or self.server).port)
        self.clients.append(client)
        return client

    async def terminal(self, key: str = "main", server: Sip2Server | None = None) -> Sip2Client:
        """A connection logged in as one of the library's terminals."""
        client = await self.connect(server)
        account = self.terminals[key]
        assert await client.login(account.login, account.password)
        client.encoding = account.encoding
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


@contextlib.asynccontextmanager
async def running(
    runtime: Runtime, *, limits: Sip2Limits | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Sip2Server]:
    """A SIP2 server of its own (other limits, TLS) on a free port, closed afterwards."""
    server = Sip2Server(LibcardResponder(runtime), port=0, limits=limits, tls=tls)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def library(world: World, clock: FrozenClock) -> AsyncIterator[Library]:
    runtime = world.runtime
    admin = world.actor(ActorKind.ADMIN)
    desk = world.actor(ActorKind.DESK)
    terminals: dict[str, TerminalAccount] = {}
    async with runtime.unit(admin) as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main Library")
        for key, (login, name, encoding, language) in TERMINALS.items():
            terminal, password = await create_terminal(
                ctx,
                world.institution_id,
                branch_id=branch.id,
                login=login,
                name=name,
                encoding=encoding,
                language=language,
            )
            terminals[key] = TerminalAccount(terminal.id, login, password, name, encoding)
    async with runtime.unit(desk) as ctx:
        for barcode, title in TITLES.items():
            await create_item(
                ctx,
                world.institution_id,
                barcode=barcode,
                title=title,
                branch_id=branch.id,
                replacement_cost_minor=25000,
                loanable=barcode != REFERENCE_BOOK,
            )
    patrons = {
        "ok": await world.patron(first_name=FIRST_NAME, last_name=LAST_NAME, physical=True),
        "other": await world.patron(first_name="Mads", last_name="Berg"),
        "fee_blocked": await world.patron(first_name="Ole", last_name="Krogh"),
        "not_activated": await world.patron(activate=False, physical=True),
        "lost": await world.patron(physical=True),
        "locked": await world.patron(),
    }
    async with runtime.unit(desk) as ctx:
        blocked = patrons["fee_blocked"].id
        await charge(ctx, blocked, FeeType.OVERDUE, 15000, "Overdue: Kongens Fald")
        await charge(ctx, blocked, FeeType.OVERDUE, 10000, "Overdue: Gift")
        lost = patrons["lost"].physical
        assert lost is not None
        await report_lost(ctx, (await find_card(ctx, lost)).id)
    async with runtime.unit() as ctx:
        for _ in range(3):  # the default policy locks on the third wrong PIN in a row
            await verify_pin(ctx, patrons["locked"].ecard, WRONG_PIN)

    server = Sip2Server(LibcardResponder(runtime), port=0)
    await server.start()
    library = Library(runtime, clock, world, server, terminals, patrons)
    try:
        yield library
    finally:
        await library.close()
        await server.close()


# Requests as a machine sends them.


def login_request(login: str, password: str) -> LoginRequest:
    return LoginRequest(
        uid_algorithm="0", pwd_algorithm="0", login_user_id=login, login_password=password
    )


def sc_status() -> ScStatus:
    return ScStatus(status_code=0, max_print_width=80, protocol_version="2.00")


def patron_status(card: str, pin: str = "", *, language: int = 0, **kw: Any) -> PatronStatusRequest:
    return PatronStatusRequest(
        language=language,
        transaction_date=WHEN,
        institution_id=INSTITUTION,
        patron_identifier=card,
        patron_password=pin,
        **kw,
    )


def patron_information(
    card: str,
    pin: str | None = None,
    *,
    charged: bool = False,
    start: str | None = None,
    end: str | None = None,
) -> PatronInformationRequest:
    return PatronInformationRequest(
        language=0,
        transaction_date=WHEN,
        summary=Summary(charged_items=charged),
        institution_id=INSTITUTION,
        patron_identifier=card,
        patron_password=pin,
        start_item=start,
        end_item=end,
    )


def checkout(card: str, barcode: str, pin: str | None = None) -> CheckoutRequest:
    return CheckoutRequest(
        sc_renewal_policy=False,
        no_block=False,
        transaction_date=WHEN,
        nb_due_date=None,
        institution_id=INSTITUTION,
        patron_identifier=card,
        item_identifier=barcode,
        patron_password=pin,
    )


def checkin(barcode: str) -> CheckinRequest:
    return CheckinRequest(
        no_block=False,
        transaction_date=WHEN,
        return_date=WHEN,
        current_location="main",
        institution_id=INSTITUTION,
        item_identifier=barcode,
    )


def renew(card: str, barcode: str, pin: str | None = None) -> RenewRequest:
    return RenewRequest(
        third_party_allowed=False,
        no_block=False,
        transaction_date=WHEN,
        nb_due_date=None,
        institution_id=INSTITUTION,
        patron_identifier=card,
        patron_password=pin,
        item_identifier=barcode,
    )


def renew_all(card: str, pin: str | None = None) -> RenewAllRequest:
    return RenewAllRequest(
        transaction_date=WHEN,
        institution_id=INSTITUTION,
        patron_identifier=card,
        patron_password=pin,
    )


def item_information(barcode: str) -> ItemInformationRequest:
    return ItemInformationRequest(
        transaction_date=WHEN, institution_id=INSTITUTION, item_identifier=barcode
    )


def fee_paid(
    card: str, amount: str, transaction_id: str, *, pin: str | None = None
) -> FeePaidRequest:
    return FeePaidRequest(
        transaction_date=WHEN,
        fee_type=1,
        payment_type=2,  # credit card
        currency_type="DKK",
        fee_amount=amount,
        institution_id=INSTITUTION,
        patron_identifier=card,
        patron_password=pin,
        transaction_id=transaction_id,
    )


def block_patron(card: str, why: str, *, retained: bool = True) -> BlockPatronRequest:
    return BlockPatronRequest(
        card_retained=retained,
        transaction_date=WHEN,
        institution_id=INSTITUTION,
        blocked_card_msg=why,
        patron_identifier=card,
    )


def end_session(card: str) -> EndPatronSessionRequest:
    return EndPatronSessionRequest(
        transaction_date=WHEN, institution_id=INSTITUTION, patron_identifier=card
    )
