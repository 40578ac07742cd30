"""Telling phones that a card's Apple Wallet pass changed, through Apple's push service (APNs).

A pass update push carries nothing: an HTTP/2 POST of an empty JSON object to
`/3/device/<push token>` with the pass type identifier as `apns-topic`, over TLS authenticated
by the pass type certificate and key that sign the pass. The phone then asks the pass web
service which of its passes changed and fetches them.

Apple answers each push on its own: 200 taken; 410 the device no longer keeps the pass; 400
with `BadDeviceToken` or `DeviceTokenNotForTopic` a token that will never work. Those two mean
the registration is to be forgotten (GONE). Anything else (403, 429, 5xx, no answer) is a
failure worth trying again later (FAILED). One token's failure never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx

from libcard.config import Settings
from libcard.errors import InvalidInput
from libcard.wallet.configured import apple_wallet_configured

log = logging.getLogger("libcard.wallet.apns")

APPLE_PUSH_URL = "https://api.push.apple.com"
# The push of a pass update: Wallet reads nothing from it.
EMPTY_PAYLOAD = b"{}"
# Device tokens are bytes written as hex. Anything else did not come from a phone, and must
# not reach the URL path, where "/" or "?" would change what is asked of APNs.
PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{1,200}")
# 400 reasons that say the token itself is bad, so sending to it again cannot succeed.
DEAD_TOKEN_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})
# Enough of a token to tell registrations apart in the log, too little to push to.
LOGGED_TOKEN_CHARS = 8
# Apple keeps many streams open on one connection; a bound keeps one large change (every
# pass of an institution) from queueing thousands of requests in memory at once.
DEFAULT_CONCURRENCY = 20
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_REASON_CHARS = 200
# httpx logs every request's URL at INFO, and hpack every header at DEBUG; a push's URL
# (its `:path`) ends in the device's token.
REQUEST_LOGGERS = ("httpx", "hpack.hpack")
DEVICE_IN_URL = re.compile(rf"(/3/device/[0-9A-Fa-f]{{{LOGGED_TOKEN_CHARS}}})[0-9A-Fa-f]*")


class PushOutcome(StrEnum):
    SENT = "sent"  # APNs took the push
    GONE = "gone"  # the token will never work again: forget the registration
    FAILED = "failed"  # try again later


@dataclass(frozen=True)
class PushResult:
    push_token: str
    outcome: PushOutcome
    status: int | None  # APNs's HTTP status; None when no answer came
    reason: str | None  # APNs's reason, or what went wrong on the way


class PassPusher(Protocol):
    """What tells devices that their pass changed; APNs in production."""

    async def push(self, topic: str, push_tokens: Sequence[str]) -> list[PushResult]:
        """One result per distinct token, in the order given; never raises for a token."""
        ...

    async def aclose(self) -> None: ...


def token_hint(push_token: str) -> str:
    """A push token as it may appear in the log."""
    return push_token[:LOGGED_TOKEN_CHARS] + "…"


class _ShortenPushTokens(logging.Filter):
    """Cuts the push token in the URLs the HTTP libraries log down to the prefix libcard logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/3/device/" in message:
            record.msg = DEVICE_IN_URL.sub(r"\1…", message)
            record.args = None
        return True


_SHORTEN_PUSH_TOKENS = _ShortenPushTokens()


class ApnsPusher:
    """Pushes pass updates to APNs over one HTTP/2 connection, authenticated by the pass
    type certificate. `ca_file` verifies a server no public CA signed (a test server)."""

    def __init__(
        self,
        *,
        certificate: Path,
        key: Path,
        key_password: str | None = None,
        base_url: str = APPLE_PUSH_URL,
        ca_file: Path | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        context = _tls_context(certificate, key, key_password, ca_file)
        for name in REQUEST_LOGGERS:  # a filter is added once, however many pushers there are
            logging.getLogger(name).addFilter(_SHORTEN_PUSH_TOKENS)
        # APNs speaks HTTP/2 only; without HTTP/1.1 a server that cannot speak it is refused
        # instead of being asked in a protocol it would reject.
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            http1=False,
            http2=True,
            verify=context,
            timeout=timeout_seconds,
            trust_env=False,
        )
        self._concurrency = concurrency

    async def __aenter__(self) -> ApnsPusher:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def push(self, topic: str, push_tokens: Sequence[str]) -> list[PushResult]:
        """Tell every device in `push_tokens` that a pass of `topic` (the pass type
        identifier) changed; one result per distinct token, in the order given."""
        tokens = list(dict.fromkeys(push_tokens))  # one device, one push
        limit = asyncio.Semaphore(self._concurrency)

        async def one(token: str) -> PushResult:
            if not PUSH_TOKEN.fullmatch(token):
                log.warning("apns: %r is no push token; not sent", token_hint(token))
                return PushResult(token, PushOutcome.GONE, None, "not a push token")
            async with limit:
                return await self._send(topic, token)

        return list(await asyncio.gather(*(one(token) for token in tokens)))

    async def _send(self, topic: str, token: str) -> PushResult:
        try:
            response = await self._client.post(
                f"/3/device/{token}",
                content=EMPTY_PAYLOAD,
                headers={"apns-topic": topic, "content-type": "application/json"},
            )
        except httpx.TimeoutException as error:
            return self._failed(token, f"timeout ({type(error).__name__})")
        except httpx.HTTPError as error:
            # What broke on the way (refused, a TLS alert), with any URL cut short.
            described = ": ".join(filter(None, (type(error).__name__, str(error))))
            return self._failed(token, DEVICE_IN_URL.sub(r"\1…", described)[:MAX_REASON_CHARS])
        status = response.status_code
        if status == 200:
            return PushResult(token, PushOutcome.SENT, status, None)
        reason = _reason(response)
        if status == 410 or (status == 400 and reason in DEAD_TOKEN_REASONS):
            log.info("apns: %s is gone (%d %s)", token_hint(token), status, reason)
            return PushResult(token, PushOutcome.GONE, status, reason)
        log.warning("apns: push to %s refused: %d %s", token_hint(token), status, reason)
        return PushResult(token, PushOutcome.FAILED, status, reason)

    @staticmethod
    def _failed(token: str, problem: str) -> PushResult:
        log.warning("apns: push to %s failed: %s", token_hint(token), problem)
        return PushResult(token, PushOutcome.FAILED, None, problem)


def _reason(response: httpx.Response) -> str | None:
    """APNs's `{"reason": "..."}`, or None when the body says nothing readable."""
    try:
        document = response.json()
    except ValueError:
        return None
    reason = document.get("reason") if isinstance(document, dict) else None
    return reason[:MAX_REASON_CHARS] if isinstance(reason, str) else None


def _tls_context(
    certificate: Path, key: Path, key_password: str | None, ca_file: Path | None
) -> ssl.SSLContext:
    """Verifies APNs (or the server `ca_file` vouches for) and presents the pass certificate."""
    try:
        context = (
            httpx.create_ssl_context()
            if ca_file is None
            else ssl.create_default_context(cafile=str(ca_file))
        )
    except (OSError, ssl.SSLError) as error:
        raise InvalidInput(
            "wallet_push_ca_unreadable",
            f"The CA file for the push service cannot be read: {error}.",
            path=str(ca_file),
        ) from None
    for path, what in ((certificate, "pass certificate"), (key, "pass certificate's key")):
        # OpenSSL's own error would not say which file is missing.
        if not path.is_file():
            raise InvalidInput(
                "wallet_push_certificate_unreadable",
                f"The {what} file {path} cannot be read.",
                path=str(path),
            )
    try:
        # Without a password OpenSSL would ask for one on the terminal, blocking the service;
        # an empty one makes a protected key fail here instead.
        context.load_cert_chain(certificate, key, key_password or (lambda: b""))
    except (OSError, ssl.SSLError):
        raise InvalidInput(
            "wallet_push_certificate_unreadable",
            "The pass certificate or its key cannot be used for pushing updates: it is not "
            "PEM, the key does not belong to the certificate, or the key's password is wrong.",
        ) from None
    return context


def apns_pusher(settings: Settings) -> ApnsPusher | None:
    """The pusher the settings describe; None where Apple Wallet passes are not offered.
    Raises InvalidInput when the certificate, its key or the CA file cannot be used."""
    certificate = settings.apple_pass_certificate_path
    key = settings.apple_pass_key_path
    if not apple_wallet_configured(settings) or certificate is None or key is None:
        return None
    password = settings.apple_pass_key_password
    return ApnsPusher(
        certificate=certificate,
        key=key,
        key_password=password.get_secret_value() if password is not None else None,
        base_url=settings.apple_push_url,
        ca_file=settings.apple_push_ca_path,
    )
