"""The load generator: self-checkout machines as plain TCP connections, each logged in once
(93) and then asking patron status (23, with the right PIN) back to back, one message in flight
per connection, as a machine does. Requests are built once with libcard's codec, so the
measured loop does nothing but send bytes, wait for the answer's CR and take the time."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bench.load import Loaded
from libcard.sip2.codec import build
from libcard.sip2.messages import LoginRequest, PatronStatusRequest

HOST = "127.0.0.1"
CONNECT_BATCH = 32  # logins at a time: each costs the server an Argon2 verification
READ_LIMIT = 64 * 1024
# Every answer to a 23 with the right PIN of a usable card says "valid PIN" (CQY), blocks or
# not; the baseline's fixed answer says it too.
VALID_PIN = b"|CQY|"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def error(self, text: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = text[:300]


@dataclass
class Machine:
    """One connection, as one self-checkout machine keeps it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def ask(self, line: bytes) -> bytes:
        self.writer.write(line)
        return await self.reader.readuntil(b"\r")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


def login_line(login: str, password: str) -> bytes:
    message = LoginRequest(
        uid_algorithm="0",
        pwd_algorithm="0",
        login_user_id=login,
        login_password=password,
        checksummed=True,
        sequence=0,
    )
    return build(message).encode("ascii")


def status_requests(loaded: Loaded, institution_code: str) -> list[bytes]:
    """One 23 per loaded patron, card number and right PIN, with error detection on."""
    now = datetime.now().replace(microsecond=0)
    return [
        build(
            PatronStatusRequest(
                language=1,
                transaction_date=now,
                institution_id=institution_code,
                patron_identifier=loaded.card_number(index),
                terminal_password="",
                patron_password=loaded.pin(index),
                sequence=index % 10,
                checksummed=True,
            )
        ).encode("ascii")
        for index in range(loaded.patrons)
    ]


async def connect(port: int, count: int, login: bytes, *, expect_login: bool) -> list[Machine]:
    """`count` logged-in connections. `expect_login`: the answer must be "94" with ok (the
    baseline answers everything with its fixed reply)."""
    machines: list[Machine] = []

    async def one() -> Machine:
        reader, writer = await asyncio.open_connection(HOST, port, limit=READ_LIMIT)
        machine = Machine(reader, writer)
        answer = await machine.ask(login)
        if expect_login and not answer.startswith(b"941"):
            await machine.close()
            raise RuntimeError(f"the terminal login was refused: {answer!r}")
        return machine

    try:
        while len(machines) < count:
            batch = min(CONNECT_BATCH, count - len(machines))
            machines += await asyncio.gather(*(one() for _ in range(batch)))
    except BaseException:
        await asyncio.gather(*(m.close() for m in machines))
        raise
    return machines


async def drive(
    machines: Sequence[Machine], requests: Sequence[bytes], seconds: float, *, seed: int
) -> Tally:
    """Every machine asks back to back until `seconds` have passed; latencies in seconds."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def run(machine: Machine, rng: random.Random) -> None:
        latencies = tally.latencies
        while time.perf_counter() < deadline:
            line = requests[rng.randrange(len(requests))]
            t0 = time.perf_counter()
            try:
                answer = await machine.ask(line)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                tally.error(f"{type(error).__name__}: {error}")
                return  # this connection is gone; the others go on
            elapsed = time.perf_counter() - t0
            if answer.startswith(b"24") and VALID_PIN in answer:
                latencies.append(elapsed)
            else:  # a refusal is quick and no patron status: not counted as an answer
                tally.error(f"unexpected answer {answer[:120]!r}")

    await asyncio.gather(
        *(run(machine, random.Random(seed * 100_003 + n)) for n, machine in enumerate(machines))
    )
    return tally
