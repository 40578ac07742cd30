"""A blocking SIP2 exchange for tests that drive a `libcard serve` in a subprocess."""

from __future__ import annotations

import socket

from libcard.sip2 import Message, ScMessage, build, parse


def exchange(port: int, encoding: str, *requests: ScMessage) -> list[Message]:
    """Each request over one connection, as a self-checkout machine sends them; the answers."""
    answers: list[Message] = []
    pending = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for request in requests:
            sock.sendall(build(request, encoding=encoding).encode(encoding))
            while b"\r" not in pending:
                chunk = sock.recv(4096)
                assert chunk, "the SIP2 server closed the connection"
                pending += chunk
            line, _, pending = pending.partition(b"\r")
            answers.append(parse(line.decode(encoding), encoding=encoding))
    return answers
