"""The identity broker's OpenID Connect client (Authlib): discovery, the authorization request
with state, nonce and PKCE, the code exchange, and the ID token's signature and claims.

Tokens are judged by the wall clock, not the library's clock: the broker signs them with its
own time, as a TLS certificate is judged by the real date.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
    AsyncOAuth2Client,
    OAuthError,
)
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from libcard.config import Settings
from libcard.errors import LibcardError
from libcard.identity.rules import registry_id_in, subject_of

CALLBACK_PATH = "/login/strong/callback"
# How long discovery and keys are reused before they are read again; a key the broker has
# rotated in between is fetched at once when a token names it.
METADATA_SECONDS = 3600
# Clock skew allowed between the broker and this server.
LEEWAY_SECONDS = 60
# Asymmetric signatures only: "none" and HMAC with the client secret prove nothing about who
# signed.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


class StrongLoginUnavailable(LibcardError):
    """No broker is configured, or it cannot be reached or understood right now."""

    status = 503
    title = "Strong login unavailable"


class StrongLoginRefused(LibcardError):
    """The broker's answer does not prove who the person is (or the person gave up)."""

    status = 403
    title = "Strong login refused"


@dataclass(frozen=True)
class BrokerConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    strong_acr: tuple[str, ...]
    subject_claim: str
    timeout: float
    registry_claim: str | None = None
    registry_institution: str | None = None  # the institution code of that registry

    @classmethod
    def of(cls, settings: Settings) -> BrokerConfig | None:
        """The broker of these settings, or None when strong login is not set up."""
        if not settings.broker_issuer or not settings.broker_client_id:
            return None
        secret = settings.broker_client_secret
        return cls(
            issuer=settings.broker_issuer,
            client_id=settings.broker_client_id,
            client_secret=secret.get_secret_value() if secret else "",
            scopes=settings.broker_scopes,
            strong_acr=tuple(settings.broker_strong_acr),
            subject_claim=settings.broker_subject_claim,
            timeout=settings.broker_timeout_seconds,
            registry_claim=settings.broker_registry_claim or None,
            registry_institution=settings.broker_registry_institution or None,
        )


@dataclass(frozen=True)
class Metadata:
    """What discovery says about the broker, checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    iss_in_response: bool  # RFC 9207: the callback names its issuer
    auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and the secrets the callback must match."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class BrokerLogin:
    """Who the broker vouches for, and how strongly."""

    issuer: str
    subject: str
    acr: str | None
    # The student's id in the student registry, when the broker vouches for one (the
    # configured registry claim); None otherwise.
    registry_id: str | None = None


@dataclass
class _Cached:
    metadata: Metadata
    fetched: float
    jwks: dict[str, Any] | None = None
    jwks_fetched: float = 0.0


_CACHE: dict[str, _Cached] = {}


def unavailable(message: str) -> StrongLoginUnavailable:
    return StrongLoginUnavailable("strong_login_unavailable", message)


def parse_metadata(document: Any, issuer: str) -> Metadata:
    """Discovery's document, refused unless it names this very issuer (OpenID Connect
    Discovery 4.3: a broker cannot speak for another) and its endpoints."""
    if not isinstance(document, dict):
        raise unavailable("The identity broker's discovery document is not a JSON object.")
    if document.get("issuer") != issuer:
        raise unavailable("The identity broker's discovery document names another issuer.")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise unavailable(f"The identity broker's discovery document has no {name}.")
        if issuer.startswith("https://") and not value.startswith("https://"):
            raise unavailable(f"The identity broker's {name} is not HTTPS.")
        endpoints[name] = value
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in offered if a in SIGNING_ALGORITHMS)
    if not algorithms:
        raise unavailable("The identity broker signs ID tokens with no algorithm libcard accepts.")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return Metadata(
        issuer=issuer,
        algorithms=algorithms,
        iss_in_response=document.get("authorization_response_iss_parameter_supported") is True,
        auth_methods=tuple(m for m in methods if isinstance(m, str)),
        **endpoints,
    )


def verify_id_token(
    id_token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: tuple[str, ...],
    now: float,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims of an ID token whose signature is the broker's and whose iss, aud, exp, iat
    and nonce are right (OpenID Connect Core 3.1.3.7); else StrongLoginRefused."""
    try:
        token = jwt.decode(
            id_token,
            KeySet.import_key_set(dict(jwks)),  # type: ignore[arg-type]
            registry=JWSRegistry(algorithms=list(algorithms)),
        )
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "sub": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            },
            {"nonce": nonce, "client_id": client_id, "access_token": access_token},
        )
        claims.validate(now=int(now), leeway=LEEWAY_SECONDS)
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError) as error:
        raise StrongLoginRefused(
            "strong_login_token_invalid",
            f"The identity broker's ID token was refused: {type(error).__name__}.",
        ) from error
    return dict(claims)


class Broker:
    """The configured broker. Discovery and keys are shared by every request of the process."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config

    def _client(self, redirect_uri: str, metadata: Metadata) -> Any:
        method = "client_secret_basic"
        if method not in metadata.auth_methods and "client_secret_post" in metadata.auth_methods:
            method = "client_secret_post"
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
            timeout=self.config.timeout,
            follow_redirects=False,
        )

    async def _get_json(self, url: str) -> Any:
        try:
            async with httpx2.AsyncClient(timeout=self.config.timeout) as http:
                response = await http.get(url, headers={"accept": "application/json"})
                response.raise_for_status()
                return response.json()
        except (httpx2.HTTPError, ValueError) as error:
            raise unavailable(
                f"The identity broker could not be reached ({type(error).__name__})."
            ) from error

    async def metadata(self) -> Metadata:
        issuer = self.config.issuer
        cached = _CACHE.get(issuer)
        if cached is not None and time.monotonic() - cached.fetched < METADATA_SECONDS:
            return cached.metadata
        document = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        metadata = parse_metadata(document, issuer)
        _CACHE[issuer] = _Cached(metadata, time.monotonic())
        return metadata

    async def _jwks(self, metadata: Metadata, *, fresh: bool) -> dict[str, Any]:
        cached = _CACHE.get(metadata.issuer)
        if (
            cached is not None
            and cached.jwks is not None
            and not fresh
            and time.monotonic() - cached.jwks_fetched < METADATA_SECONDS
        ):
            return cached.jwks
        jwks = await self._get_json(metadata.jwks_uri)
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise unavailable("The identity broker's keys are not a JSON Web Key Set.")
        if cached is not None:
            cached.jwks, cached.jwks_fetched = jwks, time.monotonic()
        return jwks

    async def authorization(self, redirect_uri: str, language: str) -> Authorization:
        """The broker's login page for this browser, asking for the strong levels."""
        metadata = await self.metadata()
        state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
        extra = {"acr_values": " ".join(self.config.strong_acr)} if self.config.strong_acr else {}
        async with self._client(redirect_uri, metadata) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                ui_locales=language,
                **extra,
            )
        return Authorization(url=url, state=state, nonce=nonce, verifier=verifier)

    async def finish(
        self,
        params: Mapping[str, str],
        *,
        state: str,
        nonce: str,
        verifier: str,
        redirect_uri: str,
    ) -> BrokerLogin:
        """Check the callback against what this browser was sent with, exchange the code, and
        verify the ID token. The state is checked first: nothing else of an answer that
        belongs to another browser is looked at."""
        if not hmac.compare_digest(params.get("state", "").encode(), state.encode()):
            raise StrongLoginRefused(
                "strong_login_state", "The answer from the identity broker is not for this login."
            )
        metadata = await self.metadata()
        answered_by = params.get("iss")
        if (answered_by is None and metadata.iss_in_response) or (
            answered_by is not None and answered_by != metadata.issuer
        ):
            # RFC 9207: an answer from another broker, sent here to mix the two up.
            raise StrongLoginRefused(
                "strong_login_issuer", "The answer comes from another identity broker."
            )
        if "error" in params:
            code = "strong_login_cancelled" if params["error"] == "access_denied" else None
            raise StrongLoginRefused(
                code or "strong_login_failed",
                f"The identity broker answered {params['error'][:64]!r}.",
            )
        code_value = params.get("code")
        if not code_value:
            raise StrongLoginRefused("strong_login_failed", "The identity broker sent no code.")
        async with self._client(redirect_uri, metadata) as client:
            try:
                token = await client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code_value,
                    code_verifier=verifier,
                )
            except OAuthError as error:
                raise StrongLoginRefused(
                    "strong_login_failed",
                    f"The identity broker refused the code: {str(error.error)[:64]}.",
                ) from error
            except (httpx2.HTTPError, ValueError) as error:
                raise unavailable(
                    f"The identity broker could not be reached ({type(error).__name__})."
                ) from error
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise StrongLoginRefused("strong_login_failed", "The identity broker sent no ID token.")
        claims = await self._verified(metadata, id_token, nonce, token.get("access_token"))
        acr = claims.get("acr")
        return BrokerLogin(
            issuer=metadata.issuer,
            subject=subject_of(claims, self.config.subject_claim),
            acr=acr if isinstance(acr, str) else None,
            registry_id=registry_id_in(claims, self.config.registry_claim),
        )

    async def _verified(
        self, metadata: Metadata, id_token: str, nonce: str, access_token: Any
    ) -> dict[str, Any]:
        for fresh in (False, True):  # a key id not seen yet: the broker rotated its keys
            jwks = await self._jwks(metadata, fresh=fresh)
            try:
                return verify_id_token(
                    id_token,
                    jwks,
                    issuer=metadata.issuer,
                    client_id=self.config.client_id,
                    nonce=nonce,
                    algorithms=metadata.algorithms,
                    now=time.time(),
                    access_token=access_token if isinstance(access_token, str) else None,
                )
            except InvalidKeyIdError:
                continue
        raise StrongLoginRefused(
            "strong_login_token_invalid", "The ID token is signed with a key the broker lacks."
        )
