"""What the SIP2 server does with input no working machine sends, with crowds of idle
connections, and over TLS: a broken or hostile connection harms only itself, and every
other machine goes on lending."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from libcard.sip2 import AcsStatus, CheckoutResponse, PatronStatusResponse, RequestScResend
from libcard.sip2.server import Sip2Limits, tls_context
from tests.sip2.conftest import (
    BOOKS,
    PIN,
    TIMEOUT,
    Library,
    Sip2Client,
    checkout,
    login_request,
    patron_status,
    running,
    sc_status,
)

RESEND = RequestScResend(checksummed=True)


async def eventually(condition: Callable[[], bool]) -> bool:
    """Whether `condition` comes true within the client timeout (the server notices a closed
    connection a moment after the client has gone)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def still_lends(library: Library, machine: Sip2Client, barcode: str) -> bool:
    reply = await machine.ask(checkout(library.card("ok"), barcode, PIN), CheckoutResponse)
    return reply.ok


async def test_garbage_and_overlong_lines_harm_only_their_own_connection(
    library: Library,
) -> None:
    before = await library.terminal()
    noisy = await library.terminal()
    for junk in (
        b"hello, is this the library?\r",
        b"23\x00\x00\x00\x00\r",  # NUL bytes
        b"\xff\xfe\x80\x81|\r",
        b"99\r",  # a known message, cut short
        b"\r",
        b"24" + b"Y" * 60 + b"\r",  # an answer, sent to the one who answers
    ):
        assert noisy.parse(await noisy.send(junk)) == RESEND, junk
    # Still logged in, and understood as soon as it speaks SIP2 again.
    status = await noisy.ask(patron_status(library.card("ok"), PIN), PatronStatusResponse)
    assert status.valid_patron_password

    # A mebibyte without a line end: answered with a 96 and/or closed, nothing else.
    flood = await library.connect()
    flood.writer.write(b"23000" + b"7" * 2**20 + b"\r")
    left = await flood.until_closed()
    assert left is not None, "the server kept reading an endless line"
    assert left in (b"", b"96AZFEF6\r")
    # Half a message, then gone: dropped, and the connection is let go.
    half = await library.connect()
    half.writer.write(b"2300020260105    100000AOnordby|AA27700")
    await half.writer.drain()
    await half.close()

    after = await library.terminal()
    assert await still_lends(library, before, BOOKS[0])
    assert await still_lends(library, after, BOOKS[1])
    assert await eventually(lambda: library.server.connections == 3)


async def test_two_hundred_idle_connections_do_not_stop_a_working_one(library: Library) -> None:
    idle: list[Sip2Client] = []
    for _ in range(4):  # in fifties: 200 at once overflow the listen backlog and wait for a retry
        idle += await asyncio.gather(*(library.connect() for _ in range(50)))
    working = await library.terminal()
    for barcode in BOOKS:
        assert await still_lends(library, working, barcode)
    assert library.server.connections == 201
    await asyncio.gather(*(client.close() for client in idle))
    assert await eventually(lambda: library.server.connections == 1)


async def test_one_connection_too_many_is_refused_and_a_silent_one_is_closed(
    library: Library,
) -> None:
    async with running(library.runtime, limits=Sip2Limits(max_connections=2)) as server:
        working = await library.terminal(server=server)
        other = await library.connect(server)
        await other.ask(sc_status(), AcsStatus)  # answered: it holds the second place
        refused = await library.connect(server)
        assert await refused.until_closed() == b""
        assert await still_lends(library, working, BOOKS[0])
        await other.close()  # a place comes free
        assert await eventually(lambda: server.connections == 1)
        later = await library.terminal(server=server)
        assert await still_lends(library, later, BOOKS[1])

    async with running(library.runtime, limits=Sip2Limits(idle_seconds=0.5)) as server:
        silent = await library.connect(server)
        assert await silent.until_closed(within=0.1) is None
        assert await silent.until_closed() == b""
        assert await eventually(lambda: server.connections == 0)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for "localhost" and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "sip2.crt", directory / "sip2.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_a_terminal_logs_in_and_lends_over_tls(library: Library, tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    async with running(library.runtime, tls=tls_context(str(cert_file), str(key_file))) as server:
        trusted = ssl.create_default_context(cafile=str(cert_file))
        machine = await Sip2Client.open(server.port, tls=trusted, server_hostname="localhost")
        library.clients.append(machine)
        account = library.terminals["main"]
        assert await machine.login(account.login, account.password)
        assert await still_lends(library, machine, BOOKS[0])

        # The terminal password never crosses in clear: a plain client gets no SIP2 answer.
        plain = await library.connect(server)
        plain.writer.write(plain.line(login_request(account.login, account.password)))
        left = await plain.until_closed()
        assert left is not None
        assert b"94" not in left
