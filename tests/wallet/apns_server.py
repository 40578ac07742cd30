"""A stand-in for Apple's push service: HTTP/2 over TLS on loopback, client certificate required.

It runs its own event loop in a thread, so one server serves a whole test module whatever loop
each test runs in. It speaks only h2 (a client that does not offer it over ALPN is dropped),
records every request with the subject of the client certificate it came with, and answers
each push token as the test told it (200 by default).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEVICE_PATH = "/3/device/"


@dataclass(frozen=True)
class ServerTls:
    ca: Path  # what a client trusts to reach the server
    certificate: Path
    key: Path


def make_server_tls(folder: Path) -> ServerTls:
    """A CA and a certificate for 127.0.0.1 that it issued, as PEM files in `folder`."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Push CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = ServerTls(folder / "push-ca.pem", folder / "push.pem", folder / "push.key")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


@dataclass(frozen=True)
class ReceivedRequest:
    connection: int  # which TLS connection it came on, counted from 1
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    http_version: str  # the ALPN protocol: always "h2", anything else is dropped
    client_subject: str | None  # RFC 4514 subject of the client certificate

    @property
    def push_token(self) -> str | None:
        return self.path.removeprefix(DEVICE_PATH) if self.path.startswith(DEVICE_PATH) else None


@dataclass(frozen=True)
class Answer:
    status: int = 200
    reason: str | None = None
    delay_seconds: float = 0.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ApnsTestServer:
    """An APNs-like server on 127.0.0.1 that trusts client certificates issued by `client_ca`."""

    def __init__(self, tls: ServerTls, client_ca: Path) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(tls.certificate, tls.key)
        self._context.load_verify_locations(cafile=str(client_ca))
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._context.set_alpn_protocols(["h2"])
        self._answers: dict[str, Answer] = {}
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._connections = 0
        self._in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def answer(self, push_token: str, status: int, reason: str | None = None) -> None:
        """How the server answers pushes to `push_token` from now on."""
        with self._lock:
            self._answers[push_token] = Answer(status, reason)

    def answer_after(self, push_token: str, seconds: float) -> None:
        """Answer pushes to `push_token` with 200, but only after `seconds`."""
        with self._lock:
            self._answers[push_token] = Answer(delay_seconds=seconds)

    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, push_token: str) -> list[ReceivedRequest]:
        return [request for request in self.requests() if request.push_token == push_token]

    def count_in_flight_afresh(self) -> None:
        """Start measuring `max_in_flight` (requests read and not yet answered) again."""
        with self._lock:
            self.max_in_flight = self._in_flight

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(
            self._connection, "127.0.0.1", 0, ssl=self._context, ssl_handshake_timeout=5
        )

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = writer.get_extra_info("ssl_object")
        if not isinstance(tls, ssl.SSLObject) or tls.selected_alpn_protocol() != "h2":
            writer.close()
            return
        der = tls.getpeercert(binary_form=True)
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None
        with self._lock:
            self._connections += 1
            number = self._connections
        h2_connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2_connection.initiate_connection()
        writer.write(h2_connection.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        answering: set[asyncio.Task[None]] = set()
        try:
            while data := await reader.read(65536):
                for event in h2_connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {_text(name): _text(value) for name, value in event.headers}
                        streams[event.stream_id] = (headers, bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        h2_connection.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        request = ReceivedRequest(
                            number,
                            headers.get(":method", ""),
                            headers.get(":path", ""),
                            {k: v for k, v in headers.items() if not k.startswith(":")},
                            bytes(body),
                            tls.selected_alpn_protocol() or "",
                            subject,
                        )
                        task = asyncio.create_task(
                            self._respond(h2_connection, writer, event.stream_id, request)
                        )
                        answering.add(task)
                        task.add_done_callback(answering.discard)
                    elif isinstance(event, h2.events.StreamReset):
                        streams.pop(event.stream_id, None)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        break
                writer.write(h2_connection.data_to_send())
                await writer.drain()
        except (h2.exceptions.ProtocolError, ConnectionError, ssl.SSLError):
            pass
        finally:
            for task in answering:
                task.cancel()
            writer.close()

    async def _respond(
        self,
        connection: h2.connection.H2Connection,
        writer: asyncio.StreamWriter,
        stream_id: int,
        request: ReceivedRequest,
    ) -> None:
        with self._lock:
            self._requests.append(request)
            answer = self._answers.get(request.push_token or "", Answer())
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if answer.delay_seconds:
                await asyncio.sleep(answer.delay_seconds)
            headers = [(":status", str(answer.status)), ("apns-id", str(uuid.uuid4()))]
            body = b""
            if answer.reason is not None:
                body = json.dumps({"reason": answer.reason}).encode()
                headers += [("content-type", "application/json")]
            headers += [("content-length", str(len(body)))]
            try:
                connection.send_headers(stream_id, headers, end_stream=not body)
                if body:
                    connection.send_data(stream_id, body, end_stream=True)
            except h2.exceptions.StreamClosedError:
                return  # the client gave up waiting
            writer.write(connection.data_to_send())
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self._in_flight -= 1
