"""Fixtures for mail: a real SMTP server on loopback that collects what it is sent, and the
API harness of tests/api for the routes that queue mail."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from libcard.notify.sender import SmtpTransport
from tests.api.conftest import api  # the API harness, for the route tests

__all__ = ["Inbox", "api"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it accepts; `refuse` makes it answer every
    recipient with 550, as a server does for an address it does not know, and `busy` every
    message with 451, as a server does that cannot take mail just now."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = False
        self.busy = False
        self.deferred = 0  # messages answered with 451
        self.port = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.busy:
            self.deferred += 1
            return "451 4.3.0 Mail server busy, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    @property
    def transport(self) -> SmtpTransport:
        return SmtpTransport(host="127.0.0.1", port=self.port, timeout_seconds=5)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
