"""A local stand-in for Google's OAuth token endpoint and the Wallet REST API (generic passes).

It checks what Google checks: the JWT-bearer assertion's signature against the service
account's public key, its audience (the token URL), issuer, scope and lifetime; a bearer token
on every API call. It keeps classes and objects in memory and answers errors in Google's form,
`{"error": {"code", "message", "status"}}`, with 404 for an unknown id and 409 for an insert
of an existing one. It runs under uvicorn on 127.0.0.1 in the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
API_PREFIX = "/walletobjects/v1"
TOKEN_PATH = "/token"
TOKEN_LIFETIME = 3599
MAX_ASSERTION_SECONDS = 3600
LEEWAY = 30

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
}


def google_error(code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}},
        status_code=code,
    )


def oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


@dataclass
class GoogleWalletSim:
    """Google as far as libcard talks to it, for one service account."""

    public_key: rsa.RSAPublicKey
    client_email: str
    key_id: str
    url: str = ""  # set once serving
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access token → expiry (epoch)
    token_requests: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of API calls

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    def count(self, method: str, collection: str) -> int:
        return sum(
            1
            for called, path in self.calls
            if called == method and path.startswith(f"{API_PREFIX}/{collection}")
        )

    # -- the token endpoint ---------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if form.get("grant_type") != JWT_BEARER:
            return oauth_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = form.get("assertion")
        if not isinstance(assertion, str):
            return oauth_error("invalid_request", "Missing required parameter: assertion")
        try:
            decoded = jwt.decode(
                assertion, RSAKey.import_key(self.public_key), algorithms=["RS256"]
            )
        except (JoseError, ValueError):
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        if decoded.header.get("kid") != self.key_id:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        claims = decoded.claims
        now = time.time()
        if claims.get("iss") != self.client_email:
            return oauth_error("invalid_grant", "Invalid issuer: unknown service account.")
        if claims.get("aud") != self.token_url:
            return oauth_error("invalid_grant", "Invalid JWT: Token must be for this audience.")
        if SCOPE not in str(claims.get("scope", "")).split():
            return oauth_error("invalid_scope", "The wallet_object.issuer scope is missing.")
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or not isinstance(expires, int):
            return oauth_error("invalid_grant", "Invalid JWT: iat and exp are required.")
        if expires <= now - LEEWAY or issued > now + LEEWAY:
            return oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.",
            )
        if expires - issued > MAX_ASSERTION_SECONDS:
            return oauth_error("invalid_grant", "Invalid JWT: lifetime over one hour.")
        access = "ya29." + secrets.token_urlsafe(24)
        self.tokens[access] = now + TOKEN_LIFETIME
        return JSONResponse(
            {"access_token": access, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        )

    # -- the API --------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expiry = self.tokens.get(token)
        return scheme.lower() == "bearer" and expiry is not None and expiry > time.time()

    def _store(self, collection: str) -> dict[str, dict[str, Any]]:
        return self.classes if collection == "genericClass" else self.objects

    async def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def collection(self, request: Request) -> Response:
        """POST /{collection}: insert."""
        self.calls.append((request.method, request.url.path))
        if not self._authorised(request):
            return _unauthenticated()
        collection = request.path_params["collection"]
        body = await self._body(request)
        if body is None or not isinstance(body.get("id"), str):
            return google_error(400, "Request contains an invalid argument: id is required.")
        resource_id = body["id"]
        issuer, dot, identifier = resource_id.partition(".")
        if not (issuer.isdigit() and dot and identifier):
            return google_error(400, f"Invalid resource ID {resource_id}.")
        store = self._store(collection)
        if resource_id in store:
            return google_error(409, f"Resource already exists: {resource_id}")
        if collection == "genericObject" and body.get("classId") not in self.classes:
            return google_error(404, f"Class not found: {body.get('classId')}")
        store[resource_id] = body
        return JSONResponse(body)

    async def resource(self, request: Request) -> Response:
        """GET, PUT (update) and PATCH (patch) of /{collection}/{id}."""
        self.calls.append((request.method, request.url.path))
        if not self._authorised(request):
            return _unauthenticated()
        store = self._store(request.path_params["collection"])
        resource_id = request.path_params["resource_id"]
        current = store.get(resource_id)
        if current is None:
            return google_error(404, f"Resource not found: {resource_id}")
        if request.method == "GET":
            return JSONResponse(current)
        body = await self._body(request)
        if body is None:
            return google_error(400, "Request contains an invalid argument.")
        if body.get("id", resource_id) != resource_id:
            return google_error(400, "The id in the body differs from the id in the path.")
        updated = {**current, **body} if request.method == "PATCH" else {**body}
        updated["id"] = resource_id
        store[resource_id] = updated
        return JSONResponse(updated)

    def app(self) -> Starlette:
        collections = "{collection:str}"
        return Starlette(
            routes=[
                Route(TOKEN_PATH, self.token, methods=["POST"]),
                Route(f"{API_PREFIX}/{collections}", self.collection, methods=["POST"]),
                Route(
                    f"{API_PREFIX}/{collections}/{{resource_id:str}}",
                    self.resource,
                    methods=["GET", "PUT", "PATCH"],
                ),
            ]
        )


def _unauthenticated() -> JSONResponse:
    return google_error(
        401,
        "Request is missing required authentication credential. Expected OAuth 2 access token.",
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner keeps its own signals
        yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(sim: GoogleWalletSim) -> AsyncIterator[GoogleWalletSim]:
    """`sim` served on a free loopback port in the running event loop."""
    port = free_port()
    sim.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        sim.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:  # uvicorn offers no event to wait on
        if task.done():
            task.result()  # the server failed to start: raise its error
        await asyncio.sleep(0.01)
    try:
        yield sim
    finally:
        server.should_exit = True
        await task
