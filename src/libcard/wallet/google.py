"""Google Wallet: the service account, the signed "Save to Google Wallet" link, and the REST API.

A save link is `https://pay.google.com/gp/v/save/<JWT>`, the JWT signed (RS256) with the
service account's private key; Google checks it against the account's public key. Later
changes (a card lost, blocked, expired) reach the saved pass through the Wallet REST API,
authorised by an OAuth 2 access token that the same key obtains with the JWT-bearer grant
(RFC 7523) at the key's token URI.

Nothing secret reaches the log: not the key, the assertion, the access token, nor a card
number (Google's error messages are logged with long digit runs masked).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from libcard.config import Settings
from libcard.errors import InvalidInput, LibcardError
from libcard.wallet.google_rules import SAVE_URL, GoogleIssuer, save_claims

log = logging.getLogger("libcard.wallet.google")

DEFAULT_API_URL = "https://walletobjects.googleapis.com/walletobjects/v1"
SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google accepts assertions valid for at most an hour.
ASSERTION_LIFETIME = timedelta(hours=1)
# A token is renewed this long before it expires, so it never runs out on its way.
TOKEN_MARGIN = timedelta(minutes=1)
REQUIRED_FIELDS = ("type", "client_email", "private_key", "private_key_id", "token_uri")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_DIGIT_RUN = re.compile(r"\d{6,}")

UNAVAILABLE = "google_wallet_unavailable"
REFUSED = "google_wallet_refused"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WalletApiError(LibcardError):
    """Google Wallet refused a call, failed on its side, or did not answer.

    `upstream_status` is Google's HTTP status (None when no answer came) and
    `upstream_message` Google's own words; libcard itself answers 502.
    """

    status = 502
    title = "Google Wallet refused or did not answer"

    def __init__(self, upstream_status: int | None, upstream_message: str) -> None:
        unavailable = upstream_status is None or upstream_status >= 500
        super().__init__(
            UNAVAILABLE if unavailable else REFUSED,
            (
                "Google Wallet is not answering right now; try again later."
                if unavailable
                else f"Google Wallet refused the request: {upstream_message}"
            ),
            upstream_status=upstream_status,
            upstream_message=upstream_message,
        )
        self.upstream_status = upstream_status
        self.upstream_message = upstream_message


def _key_error(message: str) -> InvalidInput:
    return InvalidInput("google_wallet_key", message)


@dataclass(frozen=True)
class ServiceAccount:
    """The service-account key file Google Cloud gives (JSON), as far as libcard needs it."""

    client_email: str
    private_key_id: str
    token_uri: str
    key: RSAKey = field(repr=False)

    @classmethod
    def from_file(cls, path: Path) -> ServiceAccount:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise _key_error(
                f"The Google service account key file {path.name} cannot be read "
                f"({type(error).__name__})."
            ) from None
        return cls.from_json(text)

    @classmethod
    def from_json(cls, text: str) -> ServiceAccount:
        try:
            document = json.loads(text)
        except ValueError:
            raise _key_error(
                "The Google service account key is not JSON; use the key file the Google "
                "Cloud console downloads (Service accounts → Keys → Add key → JSON)."
            ) from None
        if not isinstance(document, dict):
            raise _key_error("The Google service account key is not a JSON object.")
        missing = [
            name
            for name in REQUIRED_FIELDS
            if not isinstance(document.get(name), str) or not document[name].strip()
        ]
        if missing:
            raise _key_error(
                "The Google service account key lacks " + ", ".join(missing) + ".",
            )
        if document["type"] != "service_account":
            raise _key_error(f"The key is of type {document['type']!r}, not a service account key.")
        token_uri = document["token_uri"]
        parts = urlsplit(token_uri)
        # The signed assertion is as good as the key for an hour: it travels by HTTPS only
        # (plain HTTP is left for a token endpoint on this machine, as in tests).
        if not (
            parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
        ):
            raise _key_error("The key's token_uri must be an https:// address.")
        try:
            private = serialization.load_pem_private_key(
                document["private_key"].encode("utf-8"), password=None
            )
        except (ValueError, TypeError):
            raise _key_error(
                "The private_key of the Google service account key cannot be read as a PEM key."
            ) from None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise _key_error("A Google service account key is an RSA key (RS256).")
        return cls(
            client_email=document["client_email"],
            private_key_id=document["private_key_id"],
            token_uri=token_uri,
            key=RSAKey.import_key(private),
        )

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWT of `claims`, RS256, naming this key by its id."""
        return jwt.encode(
            {"alg": "RS256", "typ": "JWT", "kid": self.private_key_id},
            dict(claims),
            self.key,
            algorithms=["RS256"],
        )

    def bearer_assertion(self, now: datetime) -> str:
        """The JWT-bearer assertion (RFC 7523) that buys an access token for the Wallet API."""
        issued = int(now.timestamp())
        return self.sign(
            {
                "iss": self.client_email,
                "scope": SCOPE,
                "aud": self.token_uri,
                "iat": issued,
                "exp": issued + int(ASSERTION_LIFETIME.total_seconds()),
            }
        )


def save_link(
    account: ServiceAccount,
    issuer: GoogleIssuer,
    card_object: Mapping[str, Any],
    origins: Iterable[str],
    now: datetime,
) -> str:
    """The "Save to Google Wallet" address of `card_object` (a genericObject, or a reference)."""
    if account.client_email != issuer.service_account_email:
        raise InvalidInput(
            "google_wallet_issuer",
            "The service account key belongs to another account than the issuer's.",
        )
    token = account.sign(save_claims(issuer, [card_object], origins, now))
    return SAVE_URL + token


def _redact(text: str) -> str:
    # Google's messages may quote a barcode value; a card number is a credential.
    return _DIGIT_RUN.sub("…", text)


def _describe(response: httpx.Response) -> str:
    """Google's words: `{"error": {"code", "message"}}` from the API, or the OAuth form
    `{"error": "invalid_grant", "error_description": …}` from the token endpoint."""
    try:
        document = response.json()
    except ValueError:
        return (response.text[:200] or response.reason_phrase).strip()
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:500]
    if isinstance(error, str):
        description = document.get("error_description")
        return f"{error}: {description}"[:500] if description else error[:500]
    return json.dumps(document)[:500]


class GoogleWalletApi:
    """The Wallet REST API for generic passes: the class, and one object per card.

    Use it as `async with google_api(settings) as api:`, so its connections are closed.
    """

    def __init__(
        self,
        account: ServiceAccount,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 15.0,
        client: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.account = account
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # The caller's client stays the caller's to close; one of our own lives until aclose().
        self._client = client
        self._owns_client = client is None
        self._now = now
        self._token: str | None = None
        self._token_until = datetime.min.replace(tzinfo=UTC)
        self._classes: set[str] = set()  # classes known to exist, so each is checked once

    def __repr__(self) -> str:  # never the key or the token
        return f"GoogleWalletApi(base_url={self.base_url!r})"

    async def __aenter__(self) -> GoogleWalletApi:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- the API --------------------------------------------------------------------------

    async def ensure_class(self, class_body: Mapping[str, Any]) -> None:
        """Create the class unless Google has it; an existing class is left as it is."""
        class_id = str(class_body["id"])
        if class_id in self._classes:
            return
        path = f"/genericClass/{quote(class_id, safe='')}"
        if await self._call("GET", path, missing_ok=True) is None:
            created = await self._call("POST", "/genericClass", class_body, exists_ok=True)
            if created is None:
                log.info("google wallet: class %s was created meanwhile", class_id)
            else:
                log.info("google wallet: class %s created", class_id)
        self._classes.add(class_id)

    async def upsert_object(self, card_object: Mapping[str, Any]) -> dict[str, Any]:
        """Store `card_object` as it is now: replace it, or insert it if Google has none."""
        path = f"/genericObject/{quote(str(card_object['id']), safe='')}"
        stored = await self._call("PUT", path, card_object, missing_ok=True)
        if stored is None:
            stored = await self._call("POST", "/genericObject", card_object, exists_ok=True)
        if stored is None:  # inserted by someone else between our two calls: replace theirs
            stored = await self._call("PUT", path, card_object)
        return dict(stored or {})

    async def get_object(self, card_object_id: str) -> dict[str, Any] | None:
        """The stored object, or None if Google has none of that id."""
        found = await self._call(
            "GET", f"/genericObject/{quote(card_object_id, safe='')}", missing_ok=True
        )
        return None if found is None else dict(found)

    # -- plumbing -------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        missing_ok: bool = False,
        exists_ok: bool = False,
    ) -> Any:
        """One API call; None for a 404 (`missing_ok`) or 409 (`exists_ok`)."""
        for attempt in (1, 2):
            token = await self._access_token()
            response = await self._send(
                method,
                self.base_url + path,
                headers={"Authorization": f"Bearer {token}"},
                json_body=None if body is None else dict(body),
            )
            status = response.status_code
            if status == 401 and attempt == 1:
                # A token Google no longer accepts is fetched anew, once.
                self._token = None
                continue
            if status < 300:
                try:
                    return response.json() if response.content else {}
                except ValueError:
                    raise self._failure(method, path, None, "the answer is not JSON") from None
            if (status == 404 and missing_ok) or (status == 409 and exists_ok):
                return None
            raise self._failure(method, path, status, _describe(response))
        raise AssertionError("unreachable")

    async def _access_token(self) -> str:
        now = self._now()
        if self._token is not None and now < self._token_until:
            return self._token
        response = await self._send(
            "POST",
            self.account.token_uri,
            data={"grant_type": JWT_BEARER, "assertion": self.account.bearer_assertion(now)},
        )
        if response.status_code >= 300:
            raise self._failure("POST", "token", response.status_code, _describe(response))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise self._failure("POST", "token", None, "no access token in the answer")
        try:
            lifetime = timedelta(seconds=int(answer.get("expires_in", 3600)))
        except (TypeError, ValueError):
            lifetime = timedelta(hours=1)
        self._token, self._token_until = token, now + max(lifetime - TOKEN_MARGIN, timedelta(0))
        return token

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        try:
            return await self._client.request(
                method, url, headers=headers, json=json_body, data=data, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise self._failure(method, urlsplit(url).path, None, "timed out") from None
        except httpx.HTTPError as error:
            raise self._failure(method, urlsplit(url).path, None, type(error).__name__) from None

    def _failure(self, method: str, path: str, status: int | None, message: str) -> WalletApiError:
        message = _redact(message)
        log.warning(
            "google wallet: %s %s failed with %s: %s",
            method,
            _redact(path),
            status if status is not None else "no answer",
            message,
        )
        return WalletApiError(status, message)


# -- from the settings --------------------------------------------------------------------


# The settings Google Wallet needs.
GOOGLE_SETTINGS = ("google_wallet_issuer_id", "google_wallet_key_path")


def google_wallet_configured(settings: Settings) -> bool:
    """Whether Google Wallet passes can be issued: an issuer id and a key file are set."""
    return all(getattr(settings, name) for name in GOOGLE_SETTINGS)


def _unavailable() -> InvalidInput:
    return InvalidInput("wallet_unavailable", "Google Wallet passes are not set up here.")


def google_account(settings: Settings) -> ServiceAccount:
    """The service account from the configured key file; a clear error if it cannot be read."""
    path = settings.google_wallet_key_path
    if not google_wallet_configured(settings) or path is None:
        raise _unavailable()
    return ServiceAccount.from_file(path)


def google_issuer(settings: Settings, account: ServiceAccount | None = None) -> GoogleIssuer:
    """The issuer; its service account is the key file's (read unless given)."""
    issuer_id = settings.google_wallet_issuer_id
    if not google_wallet_configured(settings) or issuer_id is None:
        raise _unavailable()
    account = account or google_account(settings)
    return GoogleIssuer(
        issuer_id=issuer_id.strip(),
        service_account_email=account.client_email,
        class_suffix=settings.google_wallet_class_suffix,
    )


def google_api(
    settings: Settings,
    account: ServiceAccount | None = None,
    client: httpx.AsyncClient | None = None,
) -> GoogleWalletApi:
    return GoogleWalletApi(
        account or google_account(settings),
        base_url=settings.google_wallet_api_url,
        client=client,
    )
